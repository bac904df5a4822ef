"""A push killed with SIGKILL mid-request loses nothing, and the next push re-sends at most one item.

It runs with the ledger in a SQLite file and in PostgreSQL (the URL given as the secret env var).

The push runs as a real `python -m fusionbridge push` child against simulators served by this
test process. REDEX answers the child's first monthly-data request and holds the second open;
the kill lands while that second request is in flight, the worst moment for a ledger.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from fusionbridge.clock import SystemClock
from fusionbridge.core.models import Month, SubmissionState
from fusionbridge.jobs.lease import command_lease
from fusionbridge.jobs.push import push
from fusionbridge.jobs.sync import sync
from fusionbridge.simulator.redex import Fault
from tests.pipeline_harness import Pipeline, serve_pipeline

REPO = Path(__file__).resolve().parent.parent
HOLD_S = 60.0
"""How long REDEX sits on the second request: far longer than the test needs to kill."""


async def wait_for_second_request(pipeline: Pipeline, child: asyncio.subprocess.Process) -> None:
    """Return once the child's second monthly-data request is at REDEX and unanswered."""
    deadline = asyncio.get_running_loop().time() + 30
    while asyncio.get_running_loop().time() < deadline:
        monthly = [r for r in pipeline.redex.requests if r.endpoint == "monthly_data"]
        if len(monthly) >= 2:
            assert [r.status for r in monthly] == [201, 0]
            return
        assert child.returncode is None, "the push ended before its second request"
        await asyncio.sleep(0.02)  # polling the simulator; the child works in real time
    raise AssertionError("the child never sent its second request")


async def test_sigkill_mid_push_loses_nothing_and_resends_at_most_one_item(
    tmp_path: Path, ledger_target: Path | str
) -> None:
    clock = SystemClock()
    current = Month.containing(datetime.now(UTC), ZoneInfo("UTC"))
    first, last = current.shift(-4), current.shift(-2)  # closed, due, inside Huawei's year
    async with serve_pipeline(
        tmp_path / "ledger.db", clock, rate_limit=1000, rate_period_s=1.0, processing_polls=0
    ) as pipeline:
        inverters = pipeline.mixed_inverters()
        pipeline.redex.register(*(e["remote_inv_id"] for e in inverters))
        redex = {"batch_size": 1}  # one item per request: a kill can cut exactly one
        url = {} if isinstance(ledger_target, Path) else {"url": ledger_target}
        storage = {"lease_ttl_s": 1} | url  # the killed child's lease dies a second after the kill
        settings = pipeline.settings(inverters, redex=redex, storage=storage)
        config = pipeline.write_toml(
            tmp_path / "fusionbridge.toml", inverters, redex=redex, storage={"lease_ttl_s": 1}
        )
        env = {f"FUSIONBRIDGE_STORAGE__{k.upper()}": v for k, v in url.items()}
        async with pipeline.runtime(settings, clock) as rt:
            await sync(rt, first=first, last=last)
            truth = {e["remote_inv_id"]: pipeline.truth(e, first, last) for e in inverters}
            years = {(inv, y) for inv, months in truth.items() for y, _ in months}

        pipeline.redex.inject("monthly_data", Fault.slow(0.0), Fault.slow(HOLD_S))
        child = await asyncio.create_subprocess_exec(
            *(sys.executable, "-m", "fusionbridge", "--config", str(config), "push", "--wait", "5"),
            cwd=tmp_path,
            env={**os.environ, **env, "PYTHONPATH": str(REPO)},
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            await wait_for_second_request(pipeline, child)
        finally:
            if child.returncode is None:
                child.send_signal(signal.SIGKILL)
            _, stderr = await child.communicate()
        assert child.returncode == -signal.SIGKILL, stderr.decode()

        async with pipeline.runtime(settings, clock) as rt:
            [cut] = await rt.ledger.submissions.in_flight()
            async with command_lease(rt, wait_s=10):  # taken over once the dead lease expires
                resumed = await push(rt, wait_s=10)
            log = await rt.ledger.submissions.request_log()
            records = await rt.ledger.submissions.records()

    assert resumed.standing_problems == 0
    for remote_inv_id, expected in truth.items():
        assert pipeline.held(remote_inv_id) == expected, remote_inv_id
    assert {r.state for r in records} == {SubmissionState.ACCEPTED}
    assert len(records) == sum(len(months) for months in truth.values())

    # Every (inverter, year) left fusionbridge once, except the one the kill cut off.
    per_request = [{(i.remote_inv_id, i.month.year) for i in r.items} for r in log]
    assert all(len(keys) == 1 for keys in per_request)
    carried = Counter(key for keys in per_request for key in keys)
    assert set(carried) == years
    assert [key for key, n in carried.items() if n > 1] == [
        (cut.items[0].remote_inv_id, cut.items[0].month.year)
    ]
    assert sum(carried.values()) == len(years) + 1
    accepted_by_redex = pipeline.items_sent()
    assert sorted(accepted_by_redex) == sorted(years), "REDEX took each item exactly once"
