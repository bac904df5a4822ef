"""/status under load (SPEC §10): size, build time, /livez latency and memory at 1,000 inverters.

Run with `uv run python -m bench.bench_status [--inverters 1000] [--requests 100]`. Both
simulators are served from this process on loopback; `fusionbridge sync --from` fills twelve
months, then a real `fusionbridge run` child catches up (its push) and serves. Against it:

- the default `/status` (3 months) and `?months=13`: size, and the time of the first request
  (which builds the document) against a repeated one (served from the cache);
- twice 100 concurrent `/status` requests, the first right after another process committed to
  the ledger (so the burst finds the cache stale and one request rebuilds it), the second
  against the cache, sent by a child process. Meanwhile this process asks `/livez` every 10 ms
  on its own connection: its worst latency. The daemon's RSS is sampled from /proc every 2 ms: its growth over the burst.

Targets: default document < 1 MB, /livez < 100 ms, memory growth < 50 MB.
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
from zoneinfo import ZoneInfo

import aiohttp

from bench.bench_idle import sample, wait_ready, write_config
from fusionbridge.clock import SystemClock
from fusionbridge.core.models import Month
from fusionbridge.serving import serve_on_loopback
from fusionbridge.simulator.fleet import FleetSpec
from fusionbridge.simulator.fusionsolar import FusionSolarSimulator, SimulatorConfig
from fusionbridge.simulator.redex import RedexSimulator
from fusionbridge.store import Ledger

LIVEZ_EVERY_S = 0.01
RSS_EVERY_S = 0.002


@dataclass(frozen=True)
class Burst:
    """What one burst of concurrent /status requests did to the daemon."""

    requests: int
    wall_s: float
    worst_livez_s: float
    livez_probes: int
    rss_before_kib: int
    rss_peak_kib: int
    statuses: frozenset[int]


async def timed_get(http: aiohttp.ClientSession, url: str) -> tuple[float, int, bytes]:
    start = time.perf_counter()
    async with http.get(url) as answer:
        body = await answer.read()
        return time.perf_counter() - start, answer.status, body


async def fetch_all(base: str, requests: int) -> None:
    """The burst itself, run in a child process so its HTTP parsing does not delay the probe."""
    connector = aiohttp.TCPConnector(limit=requests)
    async with aiohttp.ClientSession(connector=connector) as http:
        answers = await asyncio.gather(
            *(timed_get(http, f"{base}/status") for _ in range(requests))
        )
    print(json.dumps(sorted({status for _, status, _ in answers})))


async def burst(pid: int, base: str, requests: int) -> Burst:
    """`requests` concurrent /status GETs, each on its own connection, with /livez probed."""
    done = asyncio.Event()
    latencies: list[float] = []
    peak = before = sample(pid).rss_kib

    async def probe_livez() -> None:
        async with aiohttp.ClientSession() as http:
            while not done.is_set():
                elapsed, status, _ = await timed_get(http, f"{base}/livez")
                assert status == 200, status
                latencies.append(elapsed)
                await asyncio.sleep(LIVEZ_EVERY_S)

    async def watch_rss() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, sample(pid).rss_kib)
            await asyncio.sleep(RSS_EVERY_S)

    watchers = [asyncio.create_task(probe_livez()), asyncio.create_task(watch_rss())]
    await asyncio.sleep(0.05)
    start = time.perf_counter()
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.bench_status",
        "--burst",
        base,
        "--requests",
        str(requests),
        stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await child.communicate()
    wall = time.perf_counter() - start
    done.set()
    await asyncio.gather(*watchers)
    peak = max(peak, sample(pid).rss_kib)
    return Burst(
        requests=requests,
        wall_s=wall,
        worst_livez_s=max(latencies),
        livez_probes=len(latencies),
        rss_before_kib=before,
        rss_peak_kib=peak,
        statuses=frozenset(json.loads(out) if child.returncode == 0 else [-1]),
    )


async def fill_ledger(config: Path, first: Month) -> None:
    """`fusionbridge sync --from first`: months for the daemon to show."""
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "fusionbridge",
        "--config",
        str(config),
        "sync",
        "--from",
        str(first),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await child.communicate()
    if child.returncode != 0:
        raise RuntimeError(f"sync failed: {err.decode()[-400:]}")


async def touch_ledger(path: Path) -> None:
    """Commit to the ledger from another connection, as a `push` command next to the daemon."""
    async with Ledger.open(path, SystemClock()) as ledger:
        await ledger.jobs.started("bench", SystemClock().now())


async def until_idle(http: aiohttp.ClientSession, base: str) -> None:
    """Wait until the catch-up job has ended (its last log line comes just before)."""
    async with asyncio.timeout(30):
        while True:
            async with http.get(f"{base}/status?months=1") as answer:
                if (await answer.json())["job_in_flight"] is None:
                    return
            await asyncio.sleep(0.1)


def differences(one: bytes, other: bytes) -> list[str]:
    """The top-level keys in which two /status answers differ, the request time aside."""
    first, second = json.loads(one), json.loads(other)
    return [
        key for key in (first.keys() | second.keys()) - {"now"} if first.get(key) != second.get(key)
    ]


def report_burst(name: str, result: Burst) -> None:
    growth = (result.rss_peak_kib - result.rss_before_kib) / 1024
    print(f"{name}")
    print(f"  answers                    {sorted(result.statuses)} x {result.requests}")
    print(f"  wall time                  {result.wall_s * 1000:.0f} ms")
    print(
        f"  worst /livez               {result.worst_livez_s * 1000:.1f} ms "
        f"over {result.livez_probes} probes (target < 100 ms)"
    )
    print(
        f"  RSS before / peak          {result.rss_before_kib / 1024:.1f} / "
        f"{result.rss_peak_kib / 1024:.1f} MiB: +{growth:.1f} MiB (target < 50 MB)"
    )


async def measure(inverters: int, requests: int) -> None:
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
    with tempfile.TemporaryDirectory(prefix="fusionbridge-status-") as tmp:
        config = write_config(Path(tmp), fusionsolar, (fs_url, rx_url))
        first = Month.containing(SystemClock().now(), ZoneInfo("Europe/Amsterdam"))
        for _ in range(11):
            first = first.previous()
        started = time.perf_counter()
        await fill_ledger(config, first)
        print(f"inverters                    {inverters}")
        print(f"load average (1 min)         {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
        print(f"ledger filled from           {first} ({time.perf_counter() - started:.0f} s)")
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
            drain = asyncio.create_task(process.stderr.read())
            base = f"http://127.0.0.1:{port}"
            async with aiohttp.ClientSession() as http:
                await until_idle(http, base)
                for query in ("", "?months=13"):
                    build_s, status, body = await timed_get(http, f"{base}/status{query}")
                    cached_s, _, again = await timed_get(http, f"{base}/status{query}")
                    assert status == 200, status
                    assert not differences(again, body), differences(again, body)
                    print(
                        f"/status{query or ' (3 months)':<16} {len(body) / 1e6:.3f} MB "
                        f"(target < 1 MB for the default); first request {build_s * 1000:.0f} ms, "
                        f"cached {cached_s * 1000:.0f} ms"
                    )
            await asyncio.sleep(0.5)
            await touch_ledger(Path(tmp) / "ledger.db")
            report_burst(
                f"{requests} concurrent /status after another process's commit (one rebuild)",
                await burst(process.pid, base, requests),
            )
            report_burst(
                f"{requests} concurrent /status against the cache",
                await burst(process.pid, base, requests),
            )
            print(f"daemon RSS after             {sample(process.pid).rss_kib / 1024:.1f} MiB")
            print(f"load average (1 min)         {os.getloadavg()[0]:.2f}")
        finally:
            process.terminate()
            await asyncio.wait_for(process.wait(), 15)
            if drain is not None:
                await drain
            await rx_runner.cleanup()
            await fs_runner.cleanup()
    print(f"exit status on SIGTERM       {process.returncode}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--inverters", type=int, default=1000, help="configured inverters")
    parser.add_argument("--requests", type=int, default=100, help="concurrent /status requests")
    parser.add_argument("--burst", metavar="URL", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.burst:
        asyncio.run(fetch_all(args.burst, args.requests))
    else:
        asyncio.run(measure(args.inverters, args.requests))


if __name__ == "__main__":
    main()
