"""The fleet benchmark's figures: what one scenario measured, against the minimum and the bound."""

from __future__ import annotations

import argparse
import math
import os
import subprocess
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import IO

from bench.bench_pipeline import BATCH, fusionsolar_minimum, type_batches
from bench.fleet_config import BenchAccount
from fusionbridge.core.models import Month, round_kwh
from fusionbridge.simulator.redex import RedexSimulator
from fusionbridge.store.job_runs import JobRun

FIELD_WINDOW_S = 65.0
"""The FusionSolar pacing interval in the field (`min_interval_s`)."""
RSS_TARGET_MIB = 200.0
WALL_TARGET = 1.2


@dataclass
class Replica:
    """One child process and, once reaped, what the kernel measured of it."""

    proc: subprocess.Popen[str]
    stderr: IO[bytes]
    code: int = -1
    peak_rss_mib: float = 0.0
    cpu_s: float = 0.0

    @property
    def holder_suffix(self) -> str:
        return f":{self.proc.pid}"

    def reap(self) -> None:
        _, status, usage = os.wait4(self.proc.pid, 0)
        self.proc.returncode = self.code = os.waitstatus_to_exitcode(status)
        self.peak_rss_mib = usage.ru_maxrss / 1024
        self.cpu_s = usage.ru_utime + usage.ru_stime

    def log_tail(self) -> str:
        self.stderr.seek(0)
        return self.stderr.read().decode(errors="replace")[-1500:]


@dataclass(frozen=True)
class Run:
    """What one scenario left behind: its replicas, its start signal, the ledger's job runs."""

    ledger: str
    replicas: list[Replica]
    go: datetime
    runs: dict[str, dict[str, JobRun]]
    accounts: list[BenchAccount]
    timed_out: bool


def day_sync_months(account: BenchAccount, now: datetime) -> list[Month]:
    """The daily sync on an empty ledger: each zone's current and previous month."""
    zones = {p.zone.key: p.zone for p in account.sim.fleet.plants}.values()
    return sorted(
        {m for z in zones for m in (Month.containing(now, z).previous(), Month.containing(now, z))}
    )


def pacing_bound(account: BenchAccount, months: list[Month], interval_s: float) -> float:
    """interval x sum over endpoints of (calls - 1): one call in flight per account, each call
    waiting only for its own endpoint's window, endpoints in the plan's order (inventory, month
    values, day values), so each endpoint's first call goes at once."""
    pages = math.ceil(len(account.sim.fleet.plants) / BATCH)
    batches = type_batches(account.sim.fleet.inverters())
    years = len({m.year for m in months})
    return interval_s * (2 * (pages - 1) + (batches * years - 1) + (batches * len(months) - 1))


def due_truth(account: BenchAccount, now: datetime) -> dict[tuple[str, int, int], Decimal]:
    """Each inverter's closed previous month (in its zone), as REDEX must end up holding it."""
    held: dict[tuple[str, int, int], Decimal] = {}
    for n, device in enumerate(account.sim.fleet.inverters()):
        month = Month.containing(now, account.sim.fleet.zone_of(device)).previous()
        value = account.sim.expected_month_kwh(device.id, month)
        if value is not None:
            held[(f"{account.prefix}-{n:05d}", month.year, month.month)] = round_kwh(value)
    return held


def fusionsolar_figures(run: Run, args: argparse.Namespace, now: datetime) -> tuple[bool, float]:
    """Calls against the minimum per account, and the fleet's sync time against the bound."""
    ratios, refused, bounds, spans, firsts, lasts = [], 0, [], [], [], []
    for account in run.accounts:
        sim, months = account.sim, day_sync_months(account, now)
        made = sum(sim.calls.values())
        ratios.append(made / fusionsolar_minimum(sim, months, now))
        refused += made - sum(sim.served.values()) - sim.calls["login"]
        bounds.append(pacing_bound(account, months, args.interval))
        stamps = [r.at for r in sim.requests]
        firsts.append(min(stamps))
        lasts.append(max(stamps))
        spans.append((max(stamps) - min(stamps)).total_seconds())
    sample = run.accounts[0]
    print(
        f"FusionSolar calls / minimum per account: min {min(ratios):.2f}, max {max(ratios):.2f} "
        f"over {len(ratios)} accounts (minimum "
        f"{fusionsolar_minimum(sample.sim, day_sync_months(sample, now), now)}: a login, the "
        "plant page, getDevList, month values per type batch and year, day values per type "
        f"batch and month); 407 answers: {refused}"
    )
    sync_end = _latest(run.runs, "sync") or run.go
    wall, bound = (sync_end - run.go).total_seconds(), max(bounds)
    field = bound / args.interval * FIELD_WINDOW_S
    over = wall - bound
    print(
        f"fleet sync wall / largest account's pacing bound: {wall:.2f} s / {bound:.2f} s = "
        f"{wall / bound:.2f}\n"
        f"  bound: interval {args.interval:g} s x sum over endpoints of (calls - 1), one call in "
        "flight per account, endpoints in the plan's order; wall: from the start signal to the "
        "last account's sync recorded in the ledger\n"
        f"  the {over:.1f} s above it: {(min(firsts) - run.go).total_seconds():.1f} s to the "
        f"first call, {max(spans) - bound:.1f} s of calls leaving after their windows (the "
        f"slowest account's first to last call: {max(spans):.1f} s), "
        f"{(sync_end - max(lasts)).total_seconds():.1f} s from the last "
        "call to the last sync recorded; this is the fleet's own work and does not grow with "
        f"the window: at the field's {FIELD_WINDOW_S:g} s (bound {field:.0f} s) it makes "
        f"{(field + over) / field:.2f}"
    )
    push_end = _latest(run.runs, "push") or run.go
    print(f"sync + push done after {(push_end - run.go).total_seconds():.1f} s")
    return min(ratios) == max(ratios) == 1.0 and refused == 0, wall / bound


def redex_figures(run: Run, now: datetime) -> bool:
    """Requests against the minimum per REDEX business account, 429s, and what REDEX holds."""
    good = True
    for label, rx, group in _redex_groups(run):
        processes = sum(math.ceil(len(due_truth(a, now)) / BATCH) for a in group)
        # a token lives in one process's memory: each process that sent data needed one grant
        grants = {r.bearer for r in rx.requests if r.endpoint == "monthly_data" and r.bearer}
        minimum = len(grants) + processes * (1 + rx.processing_polls + 1)
        made, throttled = rx.count(), rx.count(status=429)
        expected = {k: v for a in group for k, v in due_truth(a, now).items()}
        exact = rx.accepted == expected
        by_endpoint = dict(sorted(Counter(r.endpoint for r in rx.requests).items()))
        print(
            f"REDEX {label} ({len(group)} accounts): requests / minimum {made} / {minimum} = "
            f"{made / minimum:.2f}; 429 answers: {throttled}; holds the simulator's truth: "
            f"{exact} ({len(rx.accepted)} inverter-months); {by_endpoint}"
        )
        good = good and made == minimum and throttled == 0 and exact
    print(
        "  minimum: a token per process that sent data to the business account, and per account "
        f"ceil(due items / {BATCH}) monthly-data POSTs (each account pushes its own), each "
        "polled twice (New, then Success)"
    )
    return good


def report(run: Run, args: argparse.Namespace, now: datetime) -> bool:
    """Print one scenario's figures; whether every target was met."""
    n = len(run.replicas)
    print(f"\n== ledger {run.ledger}, {n} replica{'s' if n > 1 else ''} ==")
    ok_fs, ratio = fusionsolar_figures(run, args, now)
    ok_rx = redex_figures(run, now)
    runs = run.runs
    sync_runs = max((r["sync"].runs for r in runs.values() if "sync" in r), default=0)
    again = sum(1 for r in runs.values() if "push" in r and r["push"].runs > 1)
    print(
        f"job runs: sync at most {sync_runs} per account; push twice for {again} accounts (a "
        "second run finds nothing due; the REDEX counts include what it sent); accounts synced per "
        f"replica: {_accounts_per_replica(run)}"
    )
    for i, replica in enumerate(run.replicas):
        print(
            f"replica {i + 1}: exit {replica.code}, peak RSS {replica.peak_rss_mib:.1f} MiB, "
            f"CPU {replica.cpu_s:.1f} s"
        )
    failures = sum(r.failures for rs in runs.values() for r in rs.values())
    if run.timed_out or failures:
        print(f"NOT DONE: timed out {run.timed_out}, failed job runs {failures}")
        for replica in run.replicas:
            print(replica.log_tail())
    ok_rss = all(r.peak_rss_mib <= RSS_TARGET_MIB for r in run.replicas)
    ok_runs = not run.timed_out and not failures and sync_runs == 1
    verdict = {
        "FusionSolar minimal": ok_fs,
        "REDEX minimal, no 429": ok_rx,
        f"wall / bound <= {WALL_TARGET}": ratio <= WALL_TARGET,
        f"RSS <= {RSS_TARGET_MIB:g} MiB": ok_rss,
        "each sync once": ok_runs,
    }
    print("targets: " + ", ".join(f"{k} {'yes' if v else 'NO'}" for k, v in verdict.items()))
    return all(verdict.values())


def _latest(runs: dict[str, dict[str, JobRun]], job: str) -> datetime | None:
    ends = [r[job].last_finished_at for r in runs.values() if job in r]
    return max((end for end in ends if end is not None), default=None)


def _redex_groups(run: Run) -> Iterator[tuple[str, RedexSimulator, list[BenchAccount]]]:
    by_sim: dict[int, list[BenchAccount]] = {}
    for account in run.accounts:
        by_sim.setdefault(id(account.redex), []).append(account)
    for index, group in enumerate(by_sim.values()):
        yield ("shared [redex]" if index == 0 else "own [accounts.redex]"), group[0].redex, group


def _accounts_per_replica(run: Run) -> list[int]:
    return [
        sum(
            1
            for rs in run.runs.values()
            if "sync" in rs and (rs["sync"].holder or "").endswith(r.holder_suffix)
        )
        for r in run.replicas
    ]
