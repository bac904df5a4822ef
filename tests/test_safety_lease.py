"""One worker per account (SPEC §10): real `python -m fusionbridge` processes on one ledger.

Two `push` started together, and a CLI `sync` and `push` next to a running daemon, against both
simulators served by this test on loopback. REDEX answers slowly on purpose so the processes
really overlap; REDEX's and FusionSolar's own records judge: no item twice, no 407, no 429.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import pytest

from fusionbridge.clock import SystemClock
from fusionbridge.core.models import Month
from fusionbridge.jobs.sync import sync
from fusionbridge.simulator.redex import Fault
from tests.pipeline_harness import Pipeline, serve_pipeline
from tests.test_run_subprocess import collect, wait_for_event

REPO = Path(__file__).resolve().parent.parent
CURRENT = Month.containing(datetime.now(UTC), ZoneInfo("UTC"))
FIRST, LAST = CURRENT.shift(-3), CURRENT.shift(-2)
SLOW_S = 3.0
"""How long REDEX sits on the first monthly-data request: the window in which others arrive."""
WAITING = "for the ledger lease of account default held by"


@dataclass
class Finished:
    code: int
    out: str
    err: str


async def spawn(tmp_path: Path, config: Path, *argv: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "fusionbridge", "--config", str(config), *argv),
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def finish(process: asyncio.subprocess.Process, seconds: float = 90) -> Finished:
    try:
        out, err = await asyncio.wait_for(process.communicate(), seconds)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode is not None
    return Finished(process.returncode, out.decode(), err.decode())


def fusionsolar_refusals(pipeline: Pipeline) -> int:
    """FusionSolar calls not answered with data (a 407 above all), logins aside."""
    sim = pipeline.fusionsolar
    return sum(n - sim.served[e] for e, n in sim.calls.items() if e != "login")


async def in_flight(pipeline: Pipeline, seconds: float = 60) -> None:
    """Return once a monthly-data request is at REDEX and not yet answered."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while loop.time() < deadline:
        requests = pipeline.redex.requests
        if any(r.endpoint == "monthly_data" and r.status == 0 for r in requests):
            return
        await asyncio.sleep(0.02)  # watching the simulator; the children work in real time
    raise AssertionError("no monthly-data request reached REDEX")


@pytest.mark.timeout(180)  # two real push processes against the simulators
async def test_two_pushes_started_together_send_each_item_once(
    tmp_path: Path, ledger_target: Path | str
) -> None:
    clock = SystemClock()
    async with serve_pipeline(
        ledger_target, clock, rate_limit=5, rate_period_s=5.0, processing_polls=0
    ) as pipeline:
        inverters = pipeline.mixed_inverters()
        pipeline.redex.register(*(e["remote_inv_id"] for e in inverters))
        settings = pipeline.settings(inverters)
        config = pipeline.write_toml(tmp_path / "fusionbridge.toml", inverters)
        async with pipeline.runtime(settings, clock) as rt:
            await sync(rt, first=FIRST, last=LAST)
        years = {(e["remote_inv_id"], y) for e in inverters for y in {FIRST.year, LAST.year}}
        pipeline.redex.inject("monthly_data", Fault.slow(SLOW_S))

        pushes = [await spawn(tmp_path, config, "push", "--wait", "5") for _ in range(2)]
        first, second = await asyncio.gather(*(finish(p) for p in pushes))

    assert (first.code, second.code) == (0, 0), first.err + second.err
    waited = [f for f in (first, second) if WAITING in f.err]
    assert len(waited) == 1, "one push waited for the other"
    assert "Traceback" not in first.err + second.err
    sent = Counter(pipeline.items_sent())
    assert set(sent) == years
    assert max(sent.values()) == 1, f"an item went to REDEX twice: {sent}"
    assert pipeline.redex.count(status=429) == 0


async def _lines_until(stream: asyncio.StreamReader, text: str) -> str:
    """Read a child's stderr up to the line containing `text`; what was read."""
    read = ""
    while text not in read:
        line = await stream.readline()
        if not line:
            raise AssertionError(f"the child ended without printing {text!r}: {read}")
        read += line.decode()
    return read


def daemon_config(pipeline: Pipeline, tmp_path: Path, inverters: list[dict[str, Any]]) -> Path:
    return pipeline.write_toml(
        tmp_path / "fusionbridge.toml",
        inverters,
        fusionsolar={"min_interval_s": 0.8},
        redex={"timeout_s": 120},  # the held request must outlast the CLI's start-up
        schedule={"push_day": 1, "push_at": "00:00"},
        storage={"lease_ttl_s": 3},
        http={"port": 0},
    )


@pytest.mark.timeout(180)  # real processes: a daemon, a CLI sync, three pushes
async def test_cli_next_to_the_daemon_waits_or_names_the_holder(
    tmp_path: Path, ledger_target: Path | str
) -> None:
    clock = SystemClock()
    async with serve_pipeline(
        ledger_target,
        clock,
        rate_limit=5,
        rate_period_s=5.0,
        processing_polls=0,
        window_s=0.2,  # FusionSolar answers 407 to two calls of one endpoint within 0.2 s
    ) as pipeline:
        inverters = pipeline.mixed_inverters()
        pipeline.redex.register(*(e["remote_inv_id"] for e in inverters))
        config = daemon_config(pipeline, tmp_path, inverters)
        gate = asyncio.Event()  # REDEX sits on the daemon's first request until the CLI is seen
        pipeline.redex.inject("monthly_data", Fault.held_until(gate))

        daemon = await spawn(tmp_path, config, "run")
        assert daemon.stderr is not None
        err: list[str] = []
        seen = asyncio.Event()
        reader = asyncio.create_task(collect(daemon.stderr, err, seen))
        cli_sync = await spawn(tmp_path, config, "sync", "--from", str(FIRST), "--to", str(LAST))
        try:
            ready = await wait_for_event(err, seen, "daemon.ready", 60)
            synced = await finish(cli_sync)
            await in_flight(pipeline)  # the daemon's push holds the lease now
            refused = await finish(await spawn(tmp_path, config, "push", "--lease-wait", "0"))
            waiting = await spawn(tmp_path, config, "push", "--lease-wait", "60", "--wait", "5")
            assert waiting.stderr is not None
            early = await asyncio.wait_for(_lines_until(waiting.stderr, WAITING), 60)
            gate.set()
            waited = await finish(waiting)
            waited.err = early + waited.err
            async with (
                aiohttp.ClientSession() as http,
                http.get(f"http://127.0.0.1:{ready['port']}/livez") as answer,
            ):
                livez = answer.status
            alive = daemon.returncode is None
        finally:
            if daemon.returncode is None:
                daemon.send_signal(signal.SIGTERM)
            try:
                code = await asyncio.wait_for(daemon.wait(), 30)
            finally:
                if daemon.returncode is None:
                    daemon.kill()
                    await daemon.wait()
                await reader

    assert synced.code == 0, synced.err
    assert fusionsolar_refusals(pipeline) == 0, pipeline.fusionsolar.calls
    holder = f"{socket.gethostname()}:{daemon.pid}"
    assert refused.code == 1
    assert f"the ledger lease of account default is held by {holder} since" in refused.err
    assert "Traceback" not in refused.err
    assert waited.code == 0, waited.err
    assert f"{WAITING} {holder}" in waited.err
    assert alive
    assert livez == 200
    assert code == 0, "".join(err[-5:])
    daemon_events = [json.loads(line)["event"] for line in err if line[:1] == "{"]
    assert "daemon.fatal" not in daemon_events
    assert "push.recovered" not in daemon_events
    sent = Counter(pipeline.items_sent())
    assert sent, "the daemon pushed"
    assert max(sent.values()) == 1, f"an item went to REDEX twice: {sent}"
    assert pipeline.redex.count(status=429) == 0
