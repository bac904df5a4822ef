"""What a sync must fetch: the minimal FusionSolar calls for the sources and months it needs.

FusionSolar resolves a `collectTime` to a day, month or year in each plant's own zone. One
instant serves plants in every zone from UTC-12 to UTC+14 when it lies between 12:00 UTC on
the month's first day (local midnight at UTC-12) and 10:00 UTC on its last day (the next local
midnight at UTC+14); 12:00 UTC on the 15th is well inside, so a batch may mix zones freely.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta

from fusionbridge.core.due import LedgerView, MonthRecord
from fusionbridge.core.inverters import ResolvedInverter
from fusionbridge.core.models import Month, SourceRef, month_range

HUAWEI_HISTORY = timedelta(days=365)
"""FusionSolar answers failCode 20026 for a `collectTime` older than this."""

HISTORY_MARGIN = timedelta(days=1)
"""Slack on the 365 days: paced calls go out minutes after planning, and clocks differ."""


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
