"""Idle footprint of `fusionbridge run`: resident memory after start, CPU while nothing is due.

Run with `uv run python -m bench.bench_idle [--seconds 60] [--inverters 20,1000]`. Both simulators are served from this
process on loopback; the daemon is a real child process that catches up (one sync, one push),
reports ready, and then should sleep until its next trigger. Figures come from /proc (Linux).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from fusionbridge.serving import serve_on_loopback
from fusionbridge.simulator import redex as redex_sim
from fusionbridge.simulator.fleet import FleetSpec
from fusionbridge.simulator.fusionsolar import FusionSolarSimulator, SimulatorConfig
from fusionbridge.simulator.redex import RedexSimulator

TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Sample:
    """One reading of a process from /proc."""

    at: float
    cpu_s: float
    rss_kib: int
    threads: int


def sample(pid: int) -> Sample:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    utime, stime = int(fields[11]), int(fields[12])  # fields 14 and 15 of proc(5)
    status = dict(
        line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
    )
    return Sample(
        at=time.monotonic(),
        cpu_s=(utime + stime) / TICKS,
        rss_kib=int(status["VmRSS"].split()[0]),
        threads=int(status["Threads"]),
    )


def write_config(folder: Path, fusionsolar: FusionSolarSimulator, urls: tuple[str, str]) -> Path:
    fleet = fusionsolar.fleet
    entries = "\n".join(
        f'[[inverters]]\nremote_inv_id = "INV-{n}"\ndevice_id = {device.id}\n'
        f'timezone = "{fleet.zone_of(device).key}"\n'
        for n, device in enumerate(fleet.inverters())
    )
    config = folder / "fusionbridge.toml"
    config.write_text(
        f"""timezone = "Europe/Amsterdam"
[fusionsolar]
base_url = "{urls[0]}"
username = "{fusionsolar.config.username}"
system_code = "{fusionsolar.config.system_code}"
min_interval_s = 0.05
[redex]
base_url = "{urls[1]}"
client_id = "{redex_sim.CLIENT_ID}"
client_secret = "{redex_sim.CLIENT_SECRET}"
api_key = "{redex_sim.API_KEY}"
[storage]
path = "{folder / "ledger.db"}"
[http]
port = 0
[log]
format = "json"
{entries}"""
    )
    return config


async def wait_ready(process: asyncio.subprocess.Process) -> int:
    """Read the daemon's JSON log until the catch-up push finished; the HTTP port."""
    assert process.stderr is not None
    port = 0
    async with asyncio.timeout(60):
        async for raw in process.stderr:
            record = json.loads(raw) if raw.startswith(b"{") else {}
            if record.get("event") == "daemon.ready":
                port = int(record["port"])
            if record.get("event") == "push.finished":
                return port
    raise RuntimeError("the daemon ended before it was ready")


async def measure(seconds: float, inverters: int) -> dict[str, str]:
    fusionsolar = FusionSolarSimulator(
        SimulatorConfig(
            fleet=FleetSpec(plants=max(1, inverters // 10), inverters=inverters),
            window_s=0.05,
            window_slack_s=0.03,
        )
    )
    redex = RedexSimulator(processing_polls=0, rate_limit=20, rate_period_s=1.0)
    redex.register(*(f"INV-{n}" for n in range(inverters)))
    fs_runner, fs_url = await serve_on_loopback(fusionsolar.app)
    rx_runner, rx_url = await serve_on_loopback(redex.app)
    with tempfile.TemporaryDirectory(prefix="fusionbridge-idle-") as tmp:
        config = write_config(Path(tmp), fusionsolar, (fs_url, rx_url))
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "fusionbridge",
            "--config",
            str(config),
            "run",
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        drain: asyncio.Task[bytes] | None = None
        try:
            port = await wait_ready(process)
            assert process.stderr is not None
            drain = asyncio.create_task(process.stderr.read())  # keep the pipe from filling
            url = f"http://127.0.0.1:{port}/readyz"
            async with aiohttp.ClientSession() as http, http.get(url) as answer:
                ready = answer.status
            await asyncio.sleep(1)  # let the last answers settle before the idle window
            start = sample(process.pid)
            requests_before = len(fusionsolar.requests) + len(redex.requests)
            await asyncio.sleep(seconds)
            end = sample(process.pid)
            requests_during = len(fusionsolar.requests) + len(redex.requests) - requests_before
        finally:
            process.terminate()
            await asyncio.wait_for(process.wait(), 15)
            if drain is not None:
                await drain
            await rx_runner.cleanup()
            await fs_runner.cleanup()
    busy = end.cpu_s - start.cpu_s
    window = end.at - start.at
    return {
        "inverters configured": str(inverters),
        "/readyz after catch-up": str(ready),
        "RSS after start": f"{start.rss_kib / 1024:.1f} MiB",
        "RSS after idling": f"{end.rss_kib / 1024:.1f} MiB",
        "threads": str(end.threads),
        "CPU while idle": f"{busy:.2f} s / {window:.0f} s ({100 * busy / window:.3f} %)",
        "upstream requests idle": str(requests_during),
        "exit status on SIGTERM": str(process.returncode),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=60.0, help="idle window (default 60)")
    parser.add_argument(
        "--inverters",
        type=lambda text: [int(n) for n in text.split(",")],
        default=[20, 1000],
        help="configured inverters, one daemon each, side by side (default 20,1000)",
    )
    args = parser.parse_args()
    columns = [asyncio.run(measure(args.seconds, count)) for count in args.inverters]
    for label in columns[0]:
        cells = "".join(f"{column[label]:>28}" for column in columns)
        print(f"{label:<24}{cells}")
    print(f"(CPU clock tick {1 / TICKS:.2f} s; target: RSS after idling <= 70 MiB at 1,000)")


if __name__ == "__main__":
    main()
