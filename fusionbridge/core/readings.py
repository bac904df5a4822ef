"""FusionSolar KPI rows → kWh readings per source and period, and the checks that keep them honest.

Nothing here raises on odd data: a reading that cannot be trusted is left out and explained
in a `Finding`, because a certificate must never rest on a guess, and one bad bucket must not
stop the rest of a sync.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from enum import StrEnum
from zoneinfo import ZoneInfo

from fusionbridge.core.models import EnergyReading, KpiRow, Month, SourceRef


class FindingKind(StrEnum):
    OFF_MIDNIGHT = "off_midnight"  # bucket start is not local midnight: zone differs upstream
    NOT_MONTH_START = "not_month_start"  # month bucket not on a 1st: left out
    CONFLICT = "conflict"  # two different values for one period: both left out
    DAYS_MISMATCH = "days_mismatch"  # closed month value differs from the sum of its days
    MISSING_DAYS = "missing_days"  # closed month with days that have no value
    ABOVE_CAPACITY = "above_capacity"  # more than capacity times hours could produce
    NEGATIVE = "negative"


@dataclass(frozen=True, slots=True)
class Finding:
    """A cross-check that did not hold, recorded for `status` rather than raised."""

    kind: FindingKind
    source: SourceRef
    period: date | Month
    message: str


@dataclass(frozen=True, slots=True)
class Readings:
    readings: tuple[EnergyReading, ...]
    findings: tuple[Finding, ...]


def local_midnight(day: date, zone: ZoneInfo) -> datetime:
    """The UTC instant `day` starts in `zone` (a skipped midnight means the first instant after)."""
    return datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)


def nearest_local_day(instant: datetime, zone: ZoneInfo) -> tuple[date, timedelta]:
    """The local date whose midnight is nearest to `instant`, and how far `instant` is from it."""
    local = instant.astimezone(zone).date()
    candidates = (local, local + timedelta(days=1))
    offsets = {day: instant.astimezone(UTC) - local_midnight(day, zone) for day in candidates}
    day = min(candidates, key=lambda d: abs(offsets[d]))
    return day, offsets[day]


def month_readings(
    rows: Iterable[KpiRow], source: SourceRef, zone: ZoneInfo, fetched_at: datetime
) -> Readings:
    """The monthly kWh of `source` from a month-KPI answer (rows of other objects ignored)."""
    return _readings(rows, source, zone, fetched_at, monthly=True)


def day_readings(
    rows: Iterable[KpiRow], source: SourceRef, zone: ZoneInfo, fetched_at: datetime
) -> Readings:
    """The daily kWh of `source` from a day-KPI answer (rows of other objects ignored)."""
    return _readings(rows, source, zone, fetched_at, monthly=False)


def _readings(
    rows: Iterable[KpiRow],
    source: SourceRef,
    zone: ZoneInfo,
    fetched_at: datetime,
    *,
    monthly: bool,
) -> Readings:
    found: dict[date | Month, tuple[Decimal, str]] = {}
    conflicts: set[date | Month] = set()
    findings: list[Finding] = []
    for row in rows:
        if row.object_id != source.id:
            continue
        day, offset = nearest_local_day(row.bucket_start, zone)
        period: date | Month = Month.of(day) if monthly else day
        if offset:
            findings.append(
                Finding(
                    FindingKind.OFF_MIDNIGHT,
                    source,
                    period,
                    f"bucket starts at {row.bucket_start.isoformat()}, "
                    f"{'-' if offset < timedelta(0) else '+'}{abs(offset)} from local midnight "
                    f"of {day} in {zone.key}: is the plant's zone the configured one?",
                )
            )
        if monthly and day.day != 1:
            findings.append(
                Finding(
                    FindingKind.NOT_MONTH_START,
                    source,
                    period,
                    f"month bucket starts on {day}, not on a 1st in {zone.key}; left out",
                )
            )
            continue
        value = row.values.get(source.metric)
        if value is None:
            continue
        raw = row.raw.get(source.metric) or str(value)
        if period in found and found[period][0] != value:
            conflicts.add(period)
        found.setdefault(period, (value, raw))
    for period in sorted(conflicts, key=str):
        findings.append(
            Finding(
                FindingKind.CONFLICT,
                source,
                period,
                f"two different {source.metric} values for {period}; both left out",
            )
        )
    readings = tuple(
        EnergyReading(source, period, kwh, raw, source.metric, fetched_at)
        for period, (kwh, raw) in sorted(found.items(), key=lambda item: str(item[0]))
        if period not in conflicts
    )
    return Readings(readings, tuple(findings))


def hours_in(first: date, following: date, zone: ZoneInfo) -> Decimal:
    """Hours from local midnight of `first` to local midnight of `following` (DST-aware)."""
    span = local_midnight(following, zone) - local_midnight(first, zone)
    return Decimal(int(span.total_seconds())) / 3600


def describe_days(days: Iterable[date]) -> str:
    """Dates as compact runs: `2024-03-01..2024-03-04, 2024-03-09`."""
    runs: list[list[date]] = []
    for day in sorted(days):
        if runs and runs[-1][-1] + timedelta(days=1) == day:
            runs[-1].append(day)
        else:
            runs.append([day])
    return ", ".join(str(r[0]) if len(r) == 1 else f"{r[0]}..{r[-1]}" for r in runs)


def check_month(
    source: SourceRef,
    month: Month,
    zone: ZoneInfo,
    now: datetime,
    *,
    month_kwh: Decimal | None,
    days: Mapping[date, Decimal] | None = None,
    capacity_kwp: Decimal | None = None,
    tolerance: Decimal = Decimal(0),
) -> list[Finding]:
    """Cross-check a month: sign, capacity, and (closed months with day values) gaps and sum.

    `days` None means no day values were fetched for the month, so gaps are not judged.
    """
    findings = []

    def judge(period: date | Month, kwh: Decimal, hours: Decimal) -> None:
        if kwh < 0:
            findings.append(Finding(FindingKind.NEGATIVE, source, period, f"{kwh} kWh is negative"))
        if capacity_kwp is not None and kwh > capacity_kwp * hours:
            findings.append(
                Finding(
                    FindingKind.ABOVE_CAPACITY,
                    source,
                    period,
                    f"{kwh} kWh exceeds {capacity_kwp} kWp x {hours} h = {capacity_kwp * hours} kWh",
                )
            )

    if month_kwh is not None:
        judge(month, month_kwh, hours_in(month.first_day(), month.next().first_day(), zone))
    if days is None:
        return findings
    in_month = {day: kwh for day, kwh in days.items() if Month.of(day) == month}
    for day, kwh in sorted(in_month.items()):
        judge(day, kwh, hours_in(day, day + timedelta(days=1), zone))
    if Month.containing(now, zone) <= month:
        return findings
    missing = [day for day in month.days() if day not in in_month]
    if missing:
        findings.append(
            Finding(
                FindingKind.MISSING_DAYS,
                source,
                month,
                f"{len(missing)} of {len(month.days())} days have no value: {describe_days(missing)}",
            )
        )
    elif month_kwh is not None:
        total = sum(in_month.values(), Decimal(0))
        if abs(month_kwh - total) > tolerance:
            findings.append(
                Finding(
                    FindingKind.DAYS_MISMATCH,
                    source,
                    month,
                    f"month value {month_kwh} kWh differs from the sum of its days {total} kWh "
                    f"by {month_kwh - total} kWh",
                )
            )
    return findings
