"""`fusionbridge run` as a real process against both simulators served from this test on loopback."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

import aiohttp

from fusionbridge.clock import SystemClock
from fusionbridge.core.models import Month
from fusionbridge.serving import serve_on_loopback
from fusionbridge.simulator import redex as redex_sim
from fusionbridge.simulator.fleet import FleetSpec
from fusionbridge.simulator.fusionsolar import FusionSolarSimulator, SimulatorConfig
from fusionbridge.simulator.redex import RedexSimulator
from tests.postgres_server import PASSWORD

SYSTEM_CODE = "subprocess-system-code-7f3a"
START_S = 30.0
"""Bound on start-up and the first cycle (interpreter, imports, a paced sync, a push)."""
STOP_S = 10.0


def config_toml(fusionsolar_url: str, redex_url: str, ledger: Path | str, inverters: str) -> str:
    storage = f'path = "{ledger}"' if isinstance(ledger, Path) else f'url = "{ledger}"'
    return f"""
timezone = "Europe/Amsterdam"

[fusionsolar]
base_url = "{fusionsolar_url}"
username = "api-user"
system_code = "{SYSTEM_CODE}"
min_interval_s = 0.05

[redex]
base_url = "{redex_url}"
client_id = "{redex_sim.CLIENT_ID}"
client_secret = "{redex_sim.CLIENT_SECRET}"
api_key = "{redex_sim.API_KEY}"

[schedule]
push_day = 1
push_at = "00:00"

[storage]
{storage}

[http]
port = 0

[log]
format = "json"
level = "INFO"
{inverters}
"""


async def collect(stream: asyncio.StreamReader, lines: list[str], seen: asyncio.Event) -> None:
    async for raw in stream:
        lines.append(raw.decode(errors="replace"))
        seen.set()


async def wait_for_event(
    lines: list[str], seen: asyncio.Event, event: str, seconds: float
) -> dict[str, Any]:
    async with asyncio.timeout(seconds):
        checked = 0
        while True:
            for line in lines[checked:]:
                record = json.loads(line) if line.startswith("{") else {}
                if record.get("event") == event:
                    return record
            checked = len(lines)
            seen.clear()
            await seen.wait()


async def poll(http: aiohttp.ClientSession, url: str, seconds: float) -> int:
    """GET `url` until it answers 200 or the deadline passes; the last status seen."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    status = 0
    while loop.time() < deadline:
        async with http.get(url) as answer:
            status = answer.status
        if status == 200:
            break
        await asyncio.sleep(0.05)
    return status


async def test_run_serves_pushes_due_months_and_stops_on_sigterm(
    tmp_path: Path, ledger_target: Path | str
) -> None:
    fusionsolar = FusionSolarSimulator(
        SimulatorConfig(
            system_code=SYSTEM_CODE,
            fleet=FleetSpec(plants=2, inverters=4),
            window_s=0.05,
            window_slack_s=0.03,
        )
    )
    redex = RedexSimulator(processing_polls=0, rate_limit=20, rate_period_s=1.0)
    redex.register("INV-A", "INV-B")
    fleet = fusionsolar.fleet
    device_a = fleet.inverters(fleet.plants[0].code)[0]
    device_b = fleet.inverters(fleet.plants[1].code)[0]
    inverters = f"""
[[inverters]]
remote_inv_id = "INV-A"
esn = "{device_a.esn}"

[[inverters]]
remote_inv_id = "INV-B"
device_id = {device_b.id}
timezone = "{fleet.plants[1].zone.key}"
"""
    fs_runner, fs_url = await serve_on_loopback(fusionsolar.app)
    rx_runner, rx_url = await serve_on_loopback(redex.app)
    config = tmp_path / "fusionbridge.toml"
    config.write_text(config_toml(fs_url, rx_url, ledger_target, inverters))
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "fusionbridge",
        "--config",
        str(config),
        "run",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=tmp_path,
        env={k: v for k, v in os.environ.items() if k != "PYTHONMALLOC"},
    )
    assert process.stdout is not None
    assert process.stderr is not None
    out: list[str] = []
    err: list[str] = []
    seen = asyncio.Event()
    readers = [
        asyncio.create_task(collect(process.stdout, out, asyncio.Event())),
        asyncio.create_task(collect(process.stderr, err, seen)),
    ]
    try:
        ready = await wait_for_event(err, seen, "daemon.ready", START_S)
        base = f"http://127.0.0.1:{ready['port']}"
        async with aiohttp.ClientSession() as http:
            assert await poll(http, f"{base}/livez", START_S) == 200, "".join(err[-5:])
            assert await poll(http, f"{base}/readyz", START_S) == 200, "".join(err[-5:])
            await wait_for_event(err, seen, "push.finished", START_S)
            async with http.get(f"{base}/status") as answer:
                status_text = await answer.text()
        # the daemon re-executed itself in place (same PID) on libc's malloc, for idle memory
        environ = await asyncio.to_thread(Path(f"/proc/{process.pid}/environ").read_bytes)
        assert b"PYTHONMALLOC=malloc" in environ.split(b"\0")
        process.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(process.wait(), STOP_S)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        await asyncio.gather(*readers)
        await rx_runner.cleanup()
        await fs_runner.cleanup()

    assert code == 0
    now = SystemClock().now()
    expected = {}
    for remote_inv_id, device in (("INV-A", device_a), ("INV-B", device_b)):
        due = Month.containing(now, fleet.zone_of(device)).previous()
        expected[(remote_inv_id, due.year, due.month)] = fusionsolar.expected_month_kwh(
            device.id, due
        )
    assert redex.accepted == expected
    events = [json.loads(line)["event"] for line in err if line.startswith("{")]
    assert "daemon.stopping" in events
    assert events[-1] == "daemon.stopped"
    output = "".join(out + err) + status_text
    secrets = [
        SYSTEM_CODE,
        redex_sim.CLIENT_SECRET,
        redex_sim.API_KEY,
        "sim-access-",
        "sim-refresh-",
        PASSWORD,  # in the PostgreSQL variant's storage.url
    ]
    for secret in secrets:
        assert secret not in output
