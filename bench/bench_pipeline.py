"""Pipeline benchmark: `fusionbridge sync` then `push` for 1,000 inverters over 12 months.

Run with `uv run python -m bench.bench_pipeline`. This process serves both simulators on
127.0.0.1; the two commands run as real `python -m fusionbridge` children with a TOML file that
points at them, so the figures are those of the CLI an operator runs. Windows are scaled down:
FusionSolar paces 0.1 s per endpoint instead of 65 s, REDEX allows 5 requests per 0.2 s instead
of per 5 s. Call counts and ratios carry over to the real windows; wall times do not.

Reported: FusionSolar calls against the minimum the SPEC §6 batching rules allow, REDEX requests
against the minimum for the items due, 407/429 answers, whether REDEX ends up holding exactly the
simulator's truth, and the peak RSS of each fusionbridge process. With `--postgres-url` (an
empty database) the ledger is in PostgreSQL instead of a SQLite file; the URL reaches the
children as their FUSIONBRIDGE_STORAGE__URL secret.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from fusionbridge.clock import SystemClock
from fusionbridge.core.models import Month, month_range, round_kwh
from fusionbridge.serving import serve_on_loopback
from fusionbridge.simulator.fleet import FleetSpec, SimDevice
from fusionbridge.simulator.fusionsolar import FusionSolarSimulator, SimulatorConfig
from fusionbridge.simulator.redex import API_KEY, CLIENT_ID, CLIENT_SECRET, RedexSimulator

BATCH = 100
"""Huawei's per-call limit on plants and on devices of one type; REDEX's default batch size."""


@dataclass(frozen=True)
class Child:
    """One finished fusionbridge command."""

    argv: tuple[str, ...]
    code: int
    wall_s: float
    peak_rss_kib: int
    stdout: str
    stderr: str


def run_child(argv: Sequence[str], cwd: Path) -> Child:
    """Run one command and reap it with wait4, which reports that child's own peak RSS."""
    repo = Path(__file__).resolve().parent.parent
    env = {**os.environ, "PYTHONPATH": str(repo)}
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        proc = subprocess.Popen(  # noqa: S603 (our own interpreter and module)
            [sys.executable, "-m", "fusionbridge", *argv], cwd=cwd, env=env, stdout=out, stderr=err
        )
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return Child(
            tuple(argv),
            proc.returncode,
            wall,
            usage.ru_maxrss,
            out.read().decode(),
            err.read().decode(),
        )


def inverter_entries(sim: FusionSolarSimulator, prefix: str = "RM-BENCH") -> list[dict[str, Any]]:
    """Every inverter of the fleet as an `[[inverters]]` entry: half by esn, half by device id."""
    entries = []
    for n, device in enumerate(sim.fleet.inverters()):
        entry: dict[str, Any] = {"remote_inv_id": f"{prefix}-{n:05d}"}
        if n % 2:
            entry["esn"] = device.esn
        else:
            entry["device_id"] = device.id
        entry["timezone"] = sim.fleet.zone_of(device).key
        entries.append(entry)
    return entries


def toml_text(values: dict[str, Any], inverters: list[dict[str, Any]]) -> str:
    lines = [f"timezone = {json.dumps(values['timezone'])}"]
    for name, table in values.items():
        if isinstance(table, dict):
            lines += ["", f"[{name}]", *(f"{k} = {json.dumps(v)}" for k, v in table.items())]
    for entry in inverters:
        lines += ["", "[[inverters]]", *(f"{k} = {json.dumps(v)}" for k, v in entry.items())]
    return "\n".join(lines) + "\n"


def type_batches(devices: Sequence[SimDevice]) -> int:
    """Calls needed to cover `devices` at ≤100 devices of one devTypeId per call."""
    per_type = Counter(d.type_id for d in devices)
    return sum(math.ceil(n / BATCH) for n in per_type.values())


def fusionsolar_minimum(sim: FusionSolarSimulator, months: list[Month], now: datetime) -> int:
    """SPEC §6: a login, plant pages, getDevList per 100 plants, month values per (type batch,
    year), day values per (type batch, month) for the range's current and previous months."""
    plants = len(sim.fleet.plants)
    inverters = sim.fleet.inverters()
    batches = type_batches(inverters)
    years = {m.year for m in months}
    recent = set()
    for device in inverters:
        current = Month.containing(now, sim.fleet.zone_of(device))
        recent |= {current, current.previous()}
    day_months = [m for m in months if m in recent]
    pages = math.ceil(plants / BATCH)
    return 1 + pages + math.ceil(plants / BATCH) + batches * len(years) + batches * len(day_months)


def truth(sim: FusionSolarSimulator, months: list[Month]) -> dict[tuple[str, int, int], Decimal]:
    held = {}
    for n, device in enumerate(sim.fleet.inverters()):
        for month in months:
            value = sim.expected_month_kwh(device.id, month)
            if value is not None:
                held[(f"RM-BENCH-{n:05d}", month.year, month.month)] = round_kwh(value)
    return held


async def run(args: argparse.Namespace, workdir: Path) -> int:
    clock = SystemClock()
    fusionsolar = FusionSolarSimulator(
        SimulatorConfig(
            clock=clock,
            fleet=FleetSpec(plants=args.plants, inverters=args.inverters),
            window_s=args.interval,
            window_slack_s=min(0.02, args.interval / 10),
        )
    )
    redex = RedexSimulator(
        clock=clock, rate_limit=5, rate_period_s=args.redex_period, seed=11, processing_polls=1
    )
    inverters = inverter_entries(fusionsolar)
    redex.register(*(e["remote_inv_id"] for e in inverters))
    now = clock.now()
    # The newest month closed in every zone; push day 1 at 00:00 makes it due at once.
    last = min(Month.containing(now, p.zone) for p in fusionsolar.fleet.plants).previous()
    months = month_range(last.shift(1 - args.months), last)

    fs_runner, fs_url = await serve_on_loopback(fusionsolar.app)
    rx_runner, rx_url = await serve_on_loopback(redex.app)
    try:
        config = {
            "timezone": "Europe/Amsterdam",
            "fusionsolar": {
                "base_url": fs_url,
                "username": fusionsolar.config.username,
                "system_code": fusionsolar.config.system_code,
                "min_interval_s": args.interval,
                "timeout_s": 30,
            },
            "redex": {
                "base_url": rx_url,
                "client_id": CLIENT_ID,
                "client_secret": CLIENT_SECRET,
                "api_key": API_KEY,
                "rate_limit": 5,
                "rate_period_s": args.redex_period,
                "batch_size": BATCH,
                "timeout_s": 30,
            },
            "schedule": {"push_day": 1, "push_at": "00:00"},
            "storage": {"path": str(workdir / "ledger.db")},
            "log": {"format": "json", "level": "WARNING"},
        }
        path = workdir / "fusionbridge.toml"
        path.write_text(toml_text(config, inverters))
        base = ("--config", str(path))
        sync = await asyncio.to_thread(
            run_child, (*base, "sync", "--from", str(months[0]), "--to", str(months[-1])), workdir
        )
        fs_calls = Counter(fusionsolar.calls)
        push = await asyncio.to_thread(run_child, (*base, "push", "--wait", "60"), workdir)
    finally:
        await rx_runner.cleanup()
        await fs_runner.cleanup()

    fs_made = sum(fs_calls.values())
    fs_minimum = fusionsolar_minimum(fusionsolar, months, now)
    refused_407 = fs_made - sum(fusionsolar.served.values()) - fs_calls["login"]
    expected = truth(fusionsolar, months)
    items = len({(inv, year) for inv, year, _ in expected})
    processes = math.ceil(items / BATCH)
    rx_minimum = 1 + processes + processes * (redex.processing_polls + 1)
    rx_made = redex.count()
    throttled = redex.count(status=429)

    print(f"ledger: {'PostgreSQL' if args.postgres_url else 'SQLite'}")
    print(
        f"fleet: {args.inverters} inverters (types 1 and 38) over {args.plants} plants; "
        f"months {months[0]}..{months[-1]}; FusionSolar window {args.interval} s, "
        f"REDEX 5 per {args.redex_period} s"
    )
    print(
        f"sync: exit {sync.code}, {sync.wall_s:.1f} s, peak RSS {sync.peak_rss_kib / 1024:.1f} MiB"
    )
    print(f"  {sync.stdout.splitlines()[0] if sync.stdout else sync.stderr[-400:]}")
    print(
        f"push: exit {push.code}, {push.wall_s:.1f} s, peak RSS {push.peak_rss_kib / 1024:.1f} MiB"
    )
    print(f"  {push.stdout.splitlines()[0] if push.stdout else push.stderr[-400:]}")
    print(f"FusionSolar calls by endpoint: {dict(sorted(fs_calls.items()))}")
    print(f"FusionSolar calls / minimum: {fs_made} / {fs_minimum} = {fs_made / fs_minimum:.2f}")
    print(f"FusionSolar 407 answers: {refused_407}")
    print(
        f"REDEX requests by endpoint: {dict(sorted(Counter(r.endpoint for r in redex.requests).items()))}"
    )
    print(
        f"REDEX requests / minimum: {rx_made} / {rx_minimum} = {rx_made / rx_minimum:.2f} "
        f"({items} items, {processes} requests of ≤{BATCH}, each process polled "
        f"{redex.processing_polls + 1}x until Success)"
    )
    print(f"REDEX 429 answers: {throttled}")
    exact = redex.accepted == expected
    print(f"REDEX holds the simulator's truth: {exact} ({len(redex.accepted)} inverter-months)")
    peak = max(sync.peak_rss_kib, push.peak_rss_kib) / 1024
    print(f"peak RSS of a fusionbridge process: {peak:.1f} MiB")
    good = sync.code == push.code == 0 and exact and throttled == refused_407 == 0
    return 0 if good and fs_made == fs_minimum and rx_made == rx_minimum else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--plants", type=int, default=120)
    parser.add_argument("--inverters", type=int, default=1000)
    parser.add_argument("--months", type=int, default=12, help="closed months back from now")
    parser.add_argument("--interval", type=float, default=0.1, help="FusionSolar window, seconds")
    parser.add_argument("--redex-period", type=float, default=0.2, help="REDEX window, seconds")
    parser.add_argument("--postgres-url", help="an empty PostgreSQL database for the ledger")
    args = parser.parse_args(argv)
    if args.postgres_url:
        os.environ["FUSIONBRIDGE_STORAGE__URL"] = args.postgres_url
    with tempfile.TemporaryDirectory(prefix="fusionbridge-bench-") as workdir:
        return asyncio.run(run(args, Path(workdir)))


if __name__ == "__main__":
    sys.exit(main())
