"""Evidence benchmark: ledger size with raw evidence kept, and one month's bundle for 1,000 inverters.

Run with `uv run python -m bench.bench_evidence`. Both simulators serve on 127.0.0.1 and share a
virtual clock with fusionbridge, so Huawei's pacing costs no real time. Three phases:

1. backfill: `sync --days` of the last 12 closed months, one month per (virtual) day because
   Huawei's daily cap would not allow more, then `push` of all of them, followed to `Success`: 12 months x 1,000 inverters, every
   FusionSolar answer kept as raw evidence, every REDEX request, answer and status kept;
2. daily operation: the daemon's daily sync (and the monthly push) for `--daily` days, from which
   the ledger's growth per 1,000 inverter-years is extrapolated (x 365 / days);
3. one month's evidence bundle for all inverters: gather from the ledger, build, zip.

Figures: ledger bytes (after a WAL checkpoint), raw answers kept and their compressed and
uncompressed bytes, the growth per inverter-year, and the bundle's build time and size.
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from fusionbridge.app import Tuning, open_runtime
from fusionbridge.clock import VirtualClock
from fusionbridge.core.models import Month, month_range
from fusionbridge.evidence.bundle import build_files, zip_bytes
from fusionbridge.evidence.gather import gather
from fusionbridge.jobs.push import push
from fusionbridge.jobs.sync import sync
from fusionbridge.logs import configure_logging
from fusionbridge.retry import REDEX_RETRY
from fusionbridge.serving import serve_on_loopback
from fusionbridge.settings import Settings
from fusionbridge.simulator.fleet import FleetSpec
from fusionbridge.simulator.fusionsolar import FusionSolarSimulator, SimulatorConfig
from fusionbridge.simulator.redex import API_KEY, CLIENT_ID, CLIENT_SECRET, RedexSimulator

START = datetime(2026, 1, 4, 6, 0, tzinfo=UTC)
"""A fixed start keeps runs comparable: closed months Jan-Dec 2025, push day passed."""
# Phase 1 takes the 12 days from START, phase 2 the `--daily` days after them.


def ledger_figures(path: Path) -> dict[str, int]:
    """File size after folding the WAL in, and what the raw evidence takes of it."""
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        raw = conn.execute(
            "SELECT count(*), coalesce(sum(length(body)), 0), coalesce(sum(size), 0) "
            "FROM raw_responses"
        ).fetchone()
        requests = conn.execute("SELECT count(*) FROM push_requests").fetchone()[0]
        statuses = conn.execute("SELECT count(*) FROM process_statuses").fetchone()[0]
    conn.close()
    return {
        "bytes": path.stat().st_size,
        "raw_answers": raw[0],
        "raw_compressed": raw[1],
        "raw_uncompressed": raw[2],
        "redex_requests": requests,
        "status_rows": statuses,
    }


def mib(n: float) -> str:
    return f"{n / 1024 / 1024:.1f} MiB"


async def run(args: argparse.Namespace, workdir: Path) -> None:
    configure_logging("json", "ERROR")
    clock = VirtualClock(START)
    fusionsolar = FusionSolarSimulator(
        SimulatorConfig(clock=clock, fleet=FleetSpec(plants=args.plants, inverters=args.inverters))
    )
    redex = RedexSimulator(clock=clock, rate_limit=5, rate_period_s=5, processing_polls=1)
    entries = [
        {
            "remote_inv_id": f"RM-BENCH-{n:05d}",
            "device_id": device.id,
            "timezone": fusionsolar.fleet.zone_of(device).key,
        }
        for n, device in enumerate(fusionsolar.fleet.inverters())
    ]
    redex.register(*(str(e["remote_inv_id"]) for e in entries))
    fs_runner, fs_url = await serve_on_loopback(fusionsolar.app)
    rx_runner, rx_url = await serve_on_loopback(redex.app)
    db = workdir / "ledger.db"
    values: dict[str, Any] = {
        "timezone": "Europe/Amsterdam",
        "fusionsolar": {
            "base_url": fs_url,
            "username": fusionsolar.config.username,
            "system_code": fusionsolar.config.system_code,
            "min_interval_s": 65,
        },
        "redex": {
            "base_url": rx_url,
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "api_key": API_KEY,
        },
        "storage": {"path": str(db)},
        "log": {"format": "json", "level": "ERROR"},
        "inverters": entries,
    }
    settings = Settings.model_validate(values)
    tuning = Tuning(redex_retry=replace(REDEX_RETRY, wait_jitter_s=0.0), redex_poll_interval_s=2.0)
    last = Month(2025, 12)
    first = last.shift(-11)
    try:
        async with open_runtime(settings, clock=clock, tuning=tuning) as rt:
            began = time.perf_counter()
            # Day values of 12 months for 1,000 inverters need more getDevKpiDay calls than
            # Huawei's daily cap allows: one month per day, as an operator would backfill.
            for day, month in enumerate(month_range(first, last)):
                clock.set(START + timedelta(days=day))
                await sync(rt, first=month, last=month, days=True)
            await push(rt, wait_s=600)
            backfill_s = time.perf_counter() - began
        backfill = ledger_figures(db)

        async with open_runtime(settings, clock=clock, tuning=tuning) as rt:
            began = time.perf_counter()
            for day in range(12, 12 + args.daily):
                clock.set(START + timedelta(days=day))
                await sync(rt, daily=True)
                if clock.now().day == 3:
                    await push(rt, wait_s=600)
            daily_s = time.perf_counter() - began
        daily = ledger_figures(db)

        async with open_runtime(settings, clock=clock, tuning=tuning) as rt:
            began = time.perf_counter()
            facts = await gather(settings, rt.ledger, last, clock.now())
            gathered = time.perf_counter()
            files = build_files(facts)
            bundle = zip_bytes(files)
            done = time.perf_counter()
    finally:
        await rx_runner.cleanup()
        await fs_runner.cleanup()

    inverters = args.inverters
    growth_day = (daily["bytes"] - backfill["bytes"]) / args.daily
    per_year = growth_day * 365
    print(f"fleet: {inverters} inverters over {args.plants} plants, device sources")
    print(
        f"backfill {first}..{last} with day values, pushed and followed: "
        f"{backfill_s:.1f} s wall (virtual pacing)"
    )
    print(
        f"  ledger: {mib(backfill['bytes'])}; raw FusionSolar answers kept: "
        f"{backfill['raw_answers']}, {mib(backfill['raw_compressed'])} compressed "
        f"({mib(backfill['raw_uncompressed'])} as received); REDEX requests: "
        f"{backfill['redex_requests']}, status rows: {backfill['status_rows']}"
    )
    print(
        f"  per inverter-month: {backfill['bytes'] / (inverters * 12) / 1024:.1f} KiB "
        f"of ledger for 12 months x {inverters} inverters"
    )
    print(
        f"daily operation for {args.daily} days ({daily_s:.1f} s wall): ledger "
        f"{mib(daily['bytes'])}, +{mib(daily['bytes'] - backfill['bytes'])}; raw answers "
        f"{daily['raw_answers']} (+{daily['raw_answers'] - backfill['raw_answers']})"
    )
    raw_year = (daily["raw_compressed"] - backfill["raw_compressed"]) / args.daily * 365
    print(
        f"  growth per 1,000 inverter-years of daily operation: {mib(per_year * 1000 / inverters)}"
        f" (x 365 / {args.daily} days), of which raw answers {mib(raw_year * 1000 / inverters)}"
    )
    print(
        f"evidence bundle for {last}, all {len(facts.inverters)} inverters: "
        f"{done - began:.2f} s ({gathered - began:.2f} s reading the ledger, "
        f"{done - gathered:.2f} s building and zipping), {len(files)} files, {mib(len(bundle))}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--inverters", type=int, default=1000)
    parser.add_argument("--plants", type=int, default=100)
    parser.add_argument("--daily", type=int, default=30, help="days of daily operation to run")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="fusionbridge-bench-") as workdir:
        asyncio.run(run(args, Path(workdir)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
