"""The /status document's ledger part, built once per ledger change and served as bytes (SPEC §10).

A thousand inverters make a document of several hundred kB: building it per request would let
a dashboard's burst of requests starve `/livez` and hold a copy per request. So it is built when
the ledger changed (this process's commits and other processes', see `Ledger.change_marker`) or
when the calendar moved a month's state (a push time or a local midnight passed), and every
request in between gets the same bytes object.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter, OrderedDict
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from fusionbridge.app import Fleet
from fusionbridge.clock import Clock
from fusionbridge.core.due import local_instant, push_time
from fusionbridge.core.models import Month, ScheduleRules, SubmissionState
from fusionbridge.daemon.status import (
    LedgerFacts,
    load_facts,
    nearest_deadlines,
    state_counts,
    status_lines,
)
from fusionbridge.errors import LedgerError
from fusionbridge.logs import get_logger
from fusionbridge.page.facts import PlantFacts
from fusionbridge.page.live_json import live_json
from fusionbridge.page.source import plant_facts
from fusionbridge.settings import Settings
from fusionbridge.store import Ledger
from fusionbridge.store.job_runs import JobRun

log = get_logger(__name__)

DEFAULT_MONTHS = 3
MAX_MONTHS = 120
CACHED_QUERIES = 8
"""Distinct (months, inverter) documents kept per ledger state; the oldest goes first."""
JOBS = ("sync", "push", "live")
PENDING_STATES = (
    SubmissionState.DUE,
    SubmissionState.SENDING,
    SubmissionState.UNCONFIRMED,
    SubmissionState.SENT,
)
"""On their way: the next push or REDEX's processing settles them."""
FAILED_STATES = (SubmissionState.REJECTED, SubmissionState.FAILED, SubmissionState.HELD)
"""Standing until a person acts (SPEC §6, §10)."""
_PARAMETERS = ("months", "inverter")
K = TypeVar("K")
V = TypeVar("V")


@dataclass(frozen=True)
class StatusQuery:
    """Which part of the ledger a /status request asks for."""

    months: int = DEFAULT_MONTHS
    inverter: str | None = None


def parse_query(pairs: Iterable[tuple[str, str]], inverters: Iterable[str]) -> StatusQuery:
    """`?months=N&inverter=ID` (every pair, repeats included); a one-line ValueError if bad."""
    params: dict[str, str] = {}
    for name, value in pairs:
        if name not in _PARAMETERS:
            raise ValueError(f"unknown parameter {name!r}: /status takes months and inverter")
        if name in params:
            raise ValueError(f"{name} is given more than once")
        params[name] = value
    months = DEFAULT_MONTHS
    if "months" in params:
        text = params["months"]
        if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= MAX_MONTHS:
            raise ValueError(f"months must be a whole number from 1 to {MAX_MONTHS}, not {text!r}")
        months = int(text)
    inverter = params.get("inverter")
    if inverter is not None and inverter not in set(inverters):
        raise ValueError(f"inverter {inverter!r} is not a configured remote_inv_id")
    return StatusQuery(months, inverter)


def next_calendar_change(
    now: datetime, zones: Iterable[ZoneInfo], rules: ScheduleRules
) -> datetime:
    """The first instant after `now` at which a month's state can change without a ledger write.

    A month turns due at its push time; the correction window and "calls today" move at a local
    midnight. Both are per zone, so the earliest over every zone in use.
    """
    instants: list[datetime] = []
    for zone in zones:
        tomorrow = now.astimezone(zone).date() + timedelta(days=1)
        instants.append(local_instant(tomorrow, time(0), zone))
        current = Month.containing(now, zone)
        instants.extend(
            at
            for at in (push_time(m, rules, zone) for m in (current.previous(), current))
            if at > now
        )
    return min(instants)


class StatusCache:
    """The ledger part of /status per query, valid while the ledger and the calendar stand still."""

    def __init__(self, fleet: Fleet) -> None:
        self.fleet = fleet
        self.rt = fleet.accounts[0]
        self.builds = 0  # /status bodies built, for tests and the benchmark
        self.counts_built = 0  # submission-state counts for /metrics
        self._marker: str | None = None
        self._valid_until: datetime | None = None
        self._bodies: OrderedDict[StatusQuery, bytes] = OrderedDict()
        self._counts: dict[None, LedgerGauges] = {}
        self._lock = asyncio.Lock()
        settings = fleet.view
        self._zones = {settings.zone()} | {
            ZoneInfo(inv.timezone or settings.timezone) for inv in settings.inverters
        }

    async def body(self, query: StatusQuery) -> bytes:
        """The members of the document's ledger part (no braces); the same object until a change."""
        body = await self._get(self._bodies, query, lambda now: self._build(query, now))
        self._bodies.move_to_end(query)
        while len(self._bodies) > CACHED_QUERIES:
            self._bodies.popitem(last=False)
        return body

    async def gauges(self) -> LedgerGauges:
        """States, deadlines and drift over every month the ledger knows (the ledger gauges)."""
        return await self._get(self._counts, None, self._count)

    async def _get(self, store: dict[K, V], key: K, build: Callable[[datetime], Awaitable[V]]) -> V:
        await self._forget_if_changed()
        if key in store:
            return store[key]
        async with self._lock:  # a burst after a change builds once, the others wait for it
            marker = await self._forget_if_changed()
            if key in store:
                return store[key]
            now = self.rt.clock.now()
            value = await build(now)
            self._marker = marker
            self._valid_until = next_calendar_change(
                now, self._zones, self.fleet.settings.schedule.rules()
            )
            store[key] = value
            return value

    async def _forget_if_changed(self) -> str:
        marker = await self.rt.ledger.change_marker()
        expired = self._valid_until is not None and self.rt.clock.now() >= self._valid_until
        if marker != self._marker or expired:
            self._bodies.clear()
            self._counts.clear()
            self._marker, self._valid_until = None, None
        return marker

    async def _count(self, now: datetime) -> LedgerGauges:
        rt = self.rt
        counts = await asyncio.to_thread(_count_apart, self.fleet.view, rt.clock, now)
        self.counts_built += 1
        return counts

    async def _build(self, query: StatusQuery, now: datetime) -> bytes:
        rt = self.rt
        started = rt.clock.monotonic()
        every = await self.fleet.ledger.jobs.every_account()
        accounts = {
            account.account: AccountRuns(
                every.get(account.account, {}),
                await account.fusionsolar.calls_today(),
                len(account.settings.inverters),
            )
            for account in self.fleet.accounts
        }
        body = await asyncio.to_thread(
            _build_apart, self.fleet.view, rt.clock, now, query, accounts
        )
        self.builds += 1
        log.debug(
            "status.built",
            months=query.months,
            inverter=query.inverter,
            size=len(body),
            duration_s=round(rt.clock.monotonic() - started, 3),
        )
        return body


def _read_facts(
    settings: Settings,
    clock: Clock,
    now: datetime,
    *,
    only: str | None,
    latest: int | None,
) -> tuple[LedgerFacts, list[PlantFacts]]:
    """The facts and the plants' live figures, through this worker thread's own loop and
    connection (never creating a ledger)."""
    storage = settings.storage
    if storage.url is None and not storage.path.exists():
        raise LedgerError(f"ledger read failed: {storage.path.name} is gone")

    async def load() -> tuple[LedgerFacts, list[PlantFacts]]:
        async with Ledger.open(storage, clock) as ledger:
            facts = await load_facts(settings, ledger, now, only=only, latest=latest)
            return facts, await plant_facts(settings, ledger, now)

    return asyncio.run(load())


@dataclass(frozen=True, slots=True)
class LedgerGauges:
    """What /metrics mirrors of the whole ledger: states, nearest deadlines, drifting months."""

    counts: dict[str, int]
    deadline_days: dict[str, int]
    drift_months: int
    plants: list[PlantFacts]


def _count_apart(settings: Settings, clock: Clock, now: datetime) -> LedgerGauges:
    """Every inverter-month's state, counted in a worker thread on its own ledger connection."""

    facts, plants = _read_facts(settings, clock, now, only=None, latest=None)
    lines = status_lines(settings, facts, now)
    drifting = sum(1 for inverter in lines for m in inverter.months if m.drift_kwh)
    return LedgerGauges(state_counts(lines), nearest_deadlines(lines), drifting, plants)


def _build_apart(
    settings: Settings,
    clock: Clock,
    now: datetime,
    query: StatusQuery,
    accounts: Mapping[str, AccountRuns],
) -> bytes:
    """Read and render in a worker thread, on its own loop and ledger connection.

    Turning ten thousand rows into objects takes the better part of a second on a busy machine;
    on the daemon's loop that would be a second without /livez.
    """

    facts, plants = _read_facts(settings, clock, now, only=query.inverter, latest=query.months)
    lines = status_lines(settings, facts, now, last_months=query.months, only=query.inverter)
    counts = state_counts(lines)
    calls: Counter[str] = Counter()
    for account in accounts.values():
        calls.update(account.calls_today)
    summary = {
        "counts": counts,
        "pending": sum(counts.get(s.value, 0) for s in PENDING_STATES),
        "failed": sum(counts.get(s.value, 0) for s in FAILED_STATES),
        "fusionsolar_calls_today": dict(calls),
        "plants": live_json(plants),
    }
    head = {"accounts": {name: account.as_json() for name, account in accounts.items()}}
    if len(accounts) == 1:  # one account: its jobs at the top, as before there were accounts
        head["jobs"] = next(iter(head["accounts"].values()))["jobs"]
    return b"".join(
        [
            _dumps(head)[1:-1],
            b',"inverters":[',
            b",".join(_dumps(inverter.as_json()) for inverter in lines),
            b"],",
            _dumps(summary)[1:-1],
        ]
    )


@dataclass(frozen=True, slots=True)
class AccountRuns:
    """One account as /status shows it: its inverters, its jobs, its FusionSolar calls today."""

    runs: Mapping[str, JobRun]
    calls_today: Mapping[str, int]
    inverters: int

    def as_json(self) -> dict[str, Any]:
        return {
            "inverters": self.inverters,
            "jobs": {name: job_json(self.runs.get(name)) for name in JOBS},
            "fusionsolar_calls_today": dict(self.calls_today),
        }


def _dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


_JOB_FIELDS = (
    "runs",
    "failures",
    "running",
    "last_started_at",
    "last_success_at",
    "last_failure_at",
    "last_error",
    "last_run_by",
)


def iso(instant: datetime | None) -> str | None:
    """An instant as /status shows it: ISO 8601 in UTC."""
    return instant.astimezone(UTC).isoformat() if instant is not None else None


def job_json(run: JobRun | None) -> dict[str, Any]:
    """One job's bookkeeping as /status shows it."""
    if run is None:
        return dict.fromkeys(_JOB_FIELDS) | {"runs": 0, "failures": 0, "running": False}
    return {
        "runs": run.runs,
        "failures": run.failures,
        "running": run.running,
        "last_started_at": iso(run.last_started_at),
        "last_success_at": iso(run.last_success_at),
        "last_failure_at": iso(run.last_failure_at),
        "last_error": run.last_error,
        "last_run_by": run.holder,
    }
