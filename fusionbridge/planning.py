"""When things are due and what a sync must fetch: pure functions of the ledger's facts and `now`.

Wall times (`sync_at`, `push_at`) are read in each inverter's zone with PEP 495 `fold=0`: a
wall time that a spring-forward change skips (02:30 when clocks jump 02:00 → 03:00) falls one
gap later (03:30 by the new clock), and one that an autumn change repeats means its first
occurrence. So every scheduled run happens exactly once per day or month, never twice.

FusionSolar resolves a `collectTime` to a day, month or year in each plant's own zone. One
instant serves plants in every zone from UTC-12 to UTC+14 when it lies between 12:00 UTC on
the month's first day (local midnight at UTC-12) and 10:00 UTC on its last day (the next local
midnight at UTC+14); 12:00 UTC on the 15th is well inside, so a batch may mix zones freely.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from fusionbridge.mapping import ResolvedInverter, Target
from fusionbridge.models import Month, SourceRef, SubmissionState, month_range, round_kwh
from fusionbridge.settings import ScheduleSettings

HUAWEI_HISTORY = timedelta(days=365)
"""FusionSolar answers failCode 20026 for a `collectTime` older than this."""

HISTORY_MARGIN = timedelta(days=1)
"""Slack on the 365 days: paced calls go out minutes after planning, and clocks differ."""

MAX_SYNC_AGE = timedelta(days=2)
"""/readyz fails when the last successful sync is older than this."""


_IN_FLIGHT = (SubmissionState.SENDING, SubmissionState.SENT, SubmissionState.DUE)
"""Stored states whose last value may have reached REDEX (`due`: an attempt had no answer)."""
_NEVER_SENT = (None, SubmissionState.MISSING, SubmissionState.FETCHED)


@dataclass(frozen=True, slots=True)
class MonthRecord:
    """What the ledger knows about one remote inverter's month."""

    kwh: Decimal | None = None
    fetched_at: datetime | None = None
    state: SubmissionState | None = None  # the ledger's submission state; None: never sent
    sent_kwh: Decimal | None = None
    accepted_kwh: Decimal | None = None

    def is_final(self, month: Month, zone: ZoneInfo) -> bool:
        """Whether `kwh` was fetched after `month` ended; earlier it is a partial figure."""
        if self.kwh is None or self.fetched_at is None:
            return False
        return self.fetched_at >= local_instant(month.next().first_day(), time(0), zone)

    @property
    def standing_kwh(self) -> Decimal | None:
        """The value REDEX holds, or may hold: an unanswered send wins over the accepted one."""
        if self.state in _IN_FLIGHT and self.sent_kwh is not None:
            return self.sent_kwh
        return self.accepted_kwh


LedgerView = Mapping[str, Mapping[Month, MonthRecord]]
"""Per remote_inv_id, per month: the facts planning needs from the ledger."""


def local_instant(day: date, at: time, zone: ZoneInfo) -> datetime:
    """The UTC instant of wall time `at` on `day` in `zone` (DST rules in the module docstring)."""
    wall = datetime.combine(day, at.replace(tzinfo=None, fold=0))
    return wall.replace(tzinfo=zone).astimezone(UTC)


def push_time(month: Month, schedule: ScheduleSettings, zone: ZoneInfo) -> datetime:
    """When `month` becomes due: day `push_day` of the next month at `push_at`, local."""
    following = month.next()
    push_day = date(following.year, following.month, schedule.push_day)
    return local_instant(push_day, schedule.push_at, zone)


def is_due(month: Month, now: datetime, schedule: ScheduleSettings, target: Target) -> bool:
    """Whether `month`'s push time has come and the month is not before `start_month`."""
    if target.start_month is not None and month < target.start_month:
        return False
    return now >= push_time(month, schedule, target.zone)


def beyond_correction_window(month: Month, now: datetime, zone: ZoneInfo, window: int) -> bool:
    """Whether `month` is more than `window` months before the current month in `zone`."""
    return month.months_until(Month.containing(now, zone)) > window


def is_frozen(
    month: Month, record: MonthRecord, now: datetime, zone: ZoneInfo, window: int
) -> bool:
    """An accepted month past the correction window keeps its accepted value."""
    return record.accepted_kwh is not None and beyond_correction_window(month, now, zone, window)


def drift_kwh(record: MonthRecord) -> Decimal | None:
    """How far the upstream value moved from the accepted one, rounded; None when it did not."""
    if record.kwh is None or record.accepted_kwh is None:
        return None
    difference = round_kwh(record.kwh) - record.accepted_kwh
    return difference if difference else None


@dataclass(frozen=True, slots=True)
class MonthView:
    """An inverter-month as `status` shows it."""

    state: SubmissionState
    frozen: bool
    drift_kwh: Decimal | None


def describe_month(
    target: Target, month: Month, record: MonthRecord, now: datetime, schedule: ScheduleSettings
) -> MonthView:
    """State, frozen flag and drift of one inverter-month, for `status` and `/status`.

    `sending` left over from a crash shows as `due`: the next push sends it again.
    """
    window = schedule.correction_window_months
    frozen = is_frozen(month, record, now, target.zone, window)
    drift = drift_kwh(record) if frozen else None
    if record.state not in _NEVER_SENT and record.state is not None:
        shown = SubmissionState.DUE if record.state is SubmissionState.SENDING else record.state
        return MonthView(shown, frozen, drift)
    if record.kwh is None:
        return MonthView(SubmissionState.MISSING, frozen, drift)
    due = record.is_final(month, target.zone) and is_due(month, now, schedule, target)
    return MonthView(SubmissionState.DUE if due else SubmissionState.FETCHED, frozen, drift)


# --- sync planning -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SourceNeed:
    """The months one source must be fetched for, and the months it needs day values for."""

    source: SourceRef
    months: frozenset[Month]
    day_months: frozenset[Month]


@dataclass(frozen=True, slots=True)
class MonthValuesCall:
    """One month-values round for a calendar year; the client batches `sources` per 100/type."""

    year: int
    collect_at: datetime
    months: tuple[Month, ...]
    sources: tuple[SourceRef, ...]


@dataclass(frozen=True, slots=True)
class DayValuesCall:
    """One day-values round for a month; the client batches `sources` per 100/type."""

    month: Month
    collect_at: datetime
    sources: tuple[SourceRef, ...]


@dataclass(frozen=True, slots=True)
class SyncPlan:
    """Every call a sync makes, and the months Huawei no longer serves."""

    month_calls: tuple[MonthValuesCall, ...]
    day_calls: tuple[DayValuesCall, ...]
    unreachable: tuple[Month, ...]


def daily_sync_needs(
    inverters: Sequence[ResolvedInverter],
    ledger: LedgerView,
    now: datetime,
    last_success: datetime | None = None,
    *,
    recheck_months: int = 0,
) -> list[SourceNeed]:
    """The daily job: the current month, and the previous one until it is accepted.

    After an outage it also covers every month since the last successful sync, whose ledger
    value may be a partial figure fetched before the month ended. `recheck_months` (the
    correction window) re-reads the closed months of that window the ledger already holds, so
    a correction Huawei makes there reaches REDEX (older history still needs `sync --from`); in the current year that costs no extra call, since one month-values call
    answers for the whole year.
    """
    needs = []
    for inverter in inverters:
        current = Month.containing(now, inverter.zone)
        previous = current.previous()
        record = ledger.get(inverter.remote_inv_id, {}).get(previous, MonthRecord())
        start = inverter.target.start_month
        wanted = {current}
        if record.accepted_kwh is None and (start is None or previous >= start):
            wanted.add(previous)
        if last_success is not None:
            wanted.update(month_range(Month.containing(last_success, inverter.zone), current))
        recent = frozenset(m for m in wanted if m >= previous)
        known = ledger.get(inverter.remote_inv_id, {})
        wanted.update(
            m
            for m in month_range(current.shift(-recheck_months), previous)
            if m in known and known[m].kwh is not None
        )
        if inverter.target.daily:  # days are what it submits: re-read them wherever months are
            recent = frozenset(wanted)
        needs.append(SourceNeed(inverter.source, frozenset(wanted), recent))
    return needs


def range_sync_needs(
    inverters: Sequence[ResolvedInverter],
    now: datetime,
    first: Month | None = None,
    last: Month | None = None,
    *,
    all_days: bool = False,
) -> list[SourceNeed]:
    """`sync --from/--to [--days]`: the range (default previous..current), never the future."""
    needs = []
    for inverter in inverters:
        current = Month.containing(now, inverter.zone)
        end = min(last or current, current)
        start = first or (last or current).previous()
        months = frozenset(month_range(start, end))
        recent = {current, current.previous()}
        every_day = all_days or inverter.target.daily  # SPEC §11: daily inverters need them all
        day_months = months if every_day else frozenset(m for m in months if m in recent)
        needs.append(SourceNeed(inverter.source, months, day_months))
    return needs


def collect_instant(month: Month, now: datetime) -> datetime | None:
    """A `collectTime` inside `month` in every zone that Huawei still serves, or None."""
    earliest = datetime(month.year, month.month, 1, 12, tzinfo=UTC)
    end = datetime.combine(month.last_day(), time(10), tzinfo=UTC)
    chosen = datetime(month.year, month.month, 15, 12, tzinfo=UTC)
    if chosen > now:
        chosen = max(earliest, now)
    floor = now - HUAWEI_HISTORY + HISTORY_MARGIN
    if chosen < floor:
        whole_hour = floor.replace(minute=0, second=0, microsecond=0)
        chosen = whole_hour if whole_hour == floor else whole_hour + timedelta(hours=1)
    return chosen if chosen < end else None


def _sorted_sources(sources: Iterable[SourceRef]) -> tuple[SourceRef, ...]:
    return tuple(sorted(set(sources), key=lambda s: (s.kind.value, s.id, s.metric)))


def plan_sync(needs: Iterable[SourceNeed], now: datetime) -> SyncPlan:
    """Month values per calendar year, day values per month; no call Huawei would refuse."""
    instants: dict[Month, datetime | None] = {}
    year_months: dict[int, set[Month]] = defaultdict(set)
    year_sources: dict[int, set[SourceRef]] = defaultdict(set)
    day_sources: dict[Month, set[SourceRef]] = defaultdict(set)
    for need in needs:
        for month in need.months | need.day_months:
            if month not in instants:
                instants[month] = collect_instant(month, now)
            if instants[month] is None:
                continue
            if month in need.months:
                year_months[month.year].add(month)
                year_sources[month.year].add(need.source)
            if month in need.day_months:
                day_sources[month].add(need.source)
    reachable = {m: t for m, t in instants.items() if t is not None}
    month_calls = []
    for year in sorted(year_months):
        months = tuple(sorted(year_months[year]))
        sources = _sorted_sources(year_sources[year])
        month_calls.append(MonthValuesCall(year, reachable[months[-1]], months, sources))
    day_calls = [
        DayValuesCall(month, reachable[month], _sorted_sources(day_sources[month]))
        for month in sorted(day_sources)
    ]
    unreachable = tuple(sorted(m for m, t in instants.items() if t is None))
    return SyncPlan(tuple(month_calls), tuple(day_calls), unreachable)


# --- readiness -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FailedCheck:
    """One reason /readyz answers 503."""

    name: str
    detail: str


def readiness_failures(
    now: datetime,
    *,
    last_sync_success: datetime | None,
    credential_error: str | None,
    ledger_ok: bool,
    scheduler_ok: bool,
    max_sync_age: timedelta = MAX_SYNC_AGE,
) -> list[FailedCheck]:
    """Every failing readiness check; empty means ready."""
    failures = []
    if not ledger_ok:
        failures.append(FailedCheck("ledger", "the ledger cannot be used"))
    if not scheduler_ok:
        failures.append(FailedCheck("scheduler", "the scheduler is not running"))
    if credential_error is not None:
        failures.append(FailedCheck("credentials", credential_error))
    if last_sync_success is None:
        failures.append(FailedCheck("sync", "no sync has succeeded yet"))
    elif now - last_sync_success > max_sync_age:
        failures.append(
            FailedCheck("sync", f"last successful sync {last_sync_success.isoformat()} is too old")
        )
    return failures
