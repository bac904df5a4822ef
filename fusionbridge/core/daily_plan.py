"""Which days of daily-registered inverters go to REDEX, with their running totals: pure.

A day D is due when it has ended in the inverter's zone, D is not before `start_month`, and a
value fetched after D ended is known. `AccumulatedEnergyInKWh` is kept exact as REDEX's examples
do: acc(D) = acc(previous submitted day) + period(D). The chain hangs on one baseline read from
the lifetime counter (`opening_kwh`: the total at the end of the day before `anchor_day`); days
before the anchor (a later backfill) run the chain backwards from it, so no day already sent
moves when older days arrive. A day is sent when the (period, total) pair REDEX holds for it
differs from the pair wanted now, so a changed or newly appeared day goes out together with
every day whose total shifted with it. Frozen days (accepted, past the correction window) keep
their accepted pair and show drift, as months do.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from enum import StrEnum
from zoneinfo import ZoneInfo

from fusionbridge.core.due import local_instant
from fusionbridge.core.inverters import Target
from fusionbridge.core.models import Month, SubmissionState, round_kwh

MAX_RECORDS = 3000
"""REDEX's limit of daily records per batches request, across all devices."""

_RETRIED = frozenset({"due", "sending", "unconfirmed", "rejected", "failed"})
"""Stored states after an attempt without success: unanswered, cut, unconfirmed or refused."""


class DayReason(StrEnum):
    """Why a day goes out."""

    NEW = "new"
    CHANGED = "changed"  # its period or its running total differs from what REDEX holds
    RETRY = "retry"
    FORCED = "forced"


@dataclass(frozen=True, slots=True)
class DayFacts:
    """What the ledger says about one day's submission (None fields: never sent)."""

    state: str | None = None
    kwh_sent: Decimal | None = None
    accumulated_sent: Decimal | None = None
    accepted_kwh: Decimal | None = None
    accepted_accumulated: Decimal | None = None
    process_id: int | None = None
    processing_status: str | None = None
    last_error: str | None = None


_NEVER_SENT = DayFacts()


@dataclass(frozen=True, slots=True)
class DailyInverter:
    """A daily inverter as the planner sees it: target, capacity, baseline, readings, records."""

    target: Target
    capacity_kw: Decimal | None
    anchor_day: date | None
    opening_kwh: Decimal | None
    values: Mapping[date, tuple[Decimal, datetime]]
    records: Mapping[date, DayFacts]


@dataclass(frozen=True, slots=True)
class DayLine:
    """One day as planned and as `status` shows it."""

    day: date
    kwh: Decimal | None
    accumulated_kwh: Decimal | None
    state: SubmissionState
    reason: DayReason | None
    frozen: bool
    drift_kwh: Decimal | None
    note: str | None
    facts: DayFacts


@dataclass(frozen=True, slots=True)
class DayRecord:
    """One record of a batches request."""

    day: date
    kwh: Decimal
    accumulated_kwh: Decimal


@dataclass(frozen=True, slots=True)
class InverterDays:
    """The plan for one inverter: every known day, and the records to send (days ascending)."""

    remote_inv_id: str
    lines: tuple[DayLine, ...]
    send: tuple[DayRecord, ...]


def day_ended(day: date, now: datetime, zone: ZoneInfo) -> bool:
    """Whether local midnight after `day` has passed in `zone`."""
    return now >= day_end(day, zone)


def day_end(day: date, zone: ZoneInfo) -> datetime:
    return local_instant(day + timedelta(days=1), time(0), zone)


def day_hours(day: date, zone: ZoneInfo) -> Decimal:
    """Hours in the local day: 23 or 25 on DST change days."""
    start = local_instant(day, time(0), zone)
    return Decimal(int((day_end(day, zone) - start).total_seconds())) / Decimal(3600)


def hold_reason(
    value: Decimal, day: date, zone: ZoneInfo, capacity_kw: Decimal | None
) -> str | None:
    """Why a day's value cannot be certified as it stands (SPEC §10 hard checks), or None."""
    if not value.is_finite() or value < 0:
        return f"{value} kWh is not a finite amount >= 0"
    if capacity_kw is not None and capacity_kw > 0:
        limit = capacity_kw * day_hours(day, zone)
        if value > limit:
            return (
                f"{round_kwh(value)} kWh is more than {capacity_kw} kW could produce "
                f"in the {day_hours(day, zone):g} hours of {day}"
            )
    return None


def plan_inverter(
    inverter: DailyInverter,
    now: datetime,
    window_months: int,
    *,
    forced: Month | None = None,
) -> InverterDays:
    """Every known day of one inverter with its state, total and whether it goes out now."""
    target = inverter.target
    zone = target.zone
    first = target.start_month.first_day() if target.start_month else date.min
    today = now.astimezone(zone).date()  # a day has ended when it is before the local today
    unfrozen = Month.containing(now, zone).shift(-window_months).first_day()
    fetched_on: dict[datetime, date] = {}  # readings share a few fetch instants
    days = sorted(set(inverter.values) | set(inverter.records))
    periods: dict[date, Decimal] = {}
    notes: dict[date, str] = {}
    frozen: set[date] = set()
    due: set[date] = set()
    for day in days:
        facts = inverter.records.get(day, _NEVER_SENT)
        in_forced = forced is not None and (day.year, day.month) == (forced.year, forced.month)
        if facts.accepted_kwh is not None and day < unfrozen and not in_forced:
            frozen.add(day)
            periods[day] = facts.accepted_kwh
            continue
        reading = inverter.values.get(day)
        if reading is None or day < first or day >= today:
            continue
        if reading[1] not in fetched_on:
            fetched_on[reading[1]] = reading[1].astimezone(zone).date()
        if fetched_on[reading[1]] <= day:
            notes[day] = "value fetched before the day ended; waiting for the final one"
            continue
        held = _quick_hold(reading[0], day, zone, inverter.capacity_kw)
        if held is not None and not in_forced:
            notes[day] = held
            continue
        due.add(day)
        periods[day] = round_kwh(reading[0])
    totals = _accumulate(periods, inverter.anchor_day, inverter.opening_kwh)
    lines: list[DayLine] = []
    send: list[DayRecord] = []
    for day in days:
        facts = inverter.records.get(day, _NEVER_SENT)
        reading = inverter.values.get(day)
        current = periods[day] if day in due else round_kwh(reading[0]) if reading else None
        total = totals.get(day)
        reason: DayReason | None = None
        drift = None
        if day in frozen:
            difference = None if current is None else current - periods[day]
            drift = difference if difference else None
        elif day in due and total is not None:
            if total < 0:
                notes[day] = f"running total {total} kWh would be negative; check the baseline"
            else:
                in_forced = forced is not None and Month.of(day) == forced
                reason = _reason(facts, periods[day], total, in_forced)
                if reason is not None:
                    send.append(DayRecord(day, periods[day], total))
        elif day in due:
            notes[day] = "waiting for the lifetime counter reading (the next sync takes it)"
        ended = first <= day < today
        state = _state(facts, reading, reason, day in due, notes.get(day), ended)
        lines.append(
            DayLine(
                day,
                current if day not in frozen else periods[day],
                total,
                state,
                reason,
                day in frozen,
                drift,
                notes.get(day),
                facts,
            )
        )
    return InverterDays(target.remote_inv_id, tuple(lines), tuple(send))


def _accumulate(
    periods: Mapping[date, Decimal], anchor: date | None, opening: Decimal | None
) -> dict[date, Decimal]:
    """Running totals over the submitted days, forwards from the anchor and backwards before it."""
    if anchor is None or opening is None:
        return {}
    totals: dict[date, Decimal] = {}
    running = opening
    for day in sorted(d for d in periods if d >= anchor):
        running += periods[day]
        totals[day] = running
    running = opening
    for day in sorted((d for d in periods if d < anchor), reverse=True):
        totals[day] = running
        running -= periods[day]
    return totals


def _reason(facts: DayFacts, kwh: Decimal, total: Decimal, forced: bool) -> DayReason | None:
    if forced:
        return DayReason.FORCED
    if facts.state is None:
        return DayReason.NEW
    if facts.state in _RETRIED:
        return DayReason.RETRY
    if facts.state == "accepted":
        held = (facts.accepted_kwh, facts.accepted_accumulated)
    else:
        held = (facts.kwh_sent, facts.accumulated_sent)
    return DayReason.CHANGED if held != (kwh, total) else None


def _state(
    facts: DayFacts,
    reading: tuple[Decimal, datetime] | None,
    reason: DayReason | None,
    due: bool,
    note: str | None,
    ended: bool,
) -> SubmissionState:
    if facts.state == "sending":
        return SubmissionState.UNCONFIRMED  # a crash cut it: it may have reached REDEX
    if reason is not None and reason is not DayReason.RETRY:
        return SubmissionState.DUE
    if facts.state is not None:
        return SubmissionState(facts.state)
    if reading is None:
        return SubmissionState.MISSING
    if ended and note is not None and not due and not note.startswith("value fetched before"):
        return SubmissionState.HELD
    return SubmissionState.DUE if due else SubmissionState.FETCHED


def _quick_hold(
    value: Decimal, day: date, zone: ZoneInfo, capacity_kw: Decimal | None
) -> str | None:
    """hold_reason, skipping the day's exact hours when no day of 23 hours could be exceeded."""
    if value.is_finite() and value >= 0 and (capacity_kw is None or value <= capacity_kw * 23):
        return None
    return hold_reason(value, day, zone, capacity_kw)


# --- requests -----------------------------------------------------------------------------------


def split_requests(
    plans: Sequence[InverterDays], limit: int = MAX_RECORDS
) -> list[list[tuple[str, tuple[DayRecord, ...]]]]:
    """Cut every record to send into the fewest requests of at most `limit` records.

    Inverters stay in order with their days ascending; one appears at most once per request
    and is split only where a request is full, so ceil(records / limit) requests suffice.
    """
    if not 1 <= limit <= MAX_RECORDS:
        raise ValueError(f"a request carries 1 to {MAX_RECORDS} records")
    requests: list[list[tuple[str, tuple[DayRecord, ...]]]] = []
    current: list[tuple[str, tuple[DayRecord, ...]]] = []
    room = limit
    for plan in plans:
        records = plan.send
        while records:
            part, records = records[:room], records[room:]
            current.append((plan.remote_inv_id, part))
            room -= len(part)
            if room == 0:
                requests.append(current)
                current, room = [], limit
    if current:
        requests.append(current)
    return requests


def month_summary(
    lines: Sequence[DayLine], days_due: int
) -> tuple[SubmissionState, Decimal | None, str]:
    """A month of a daily inverter: its state, the sum of its days, `n/m days accepted`.

    `days_due` counts the month's days that have ended (from `start_month` on), so a day
    FusionSolar never reported shows as the gap it is.
    """
    states = [line.state for line in lines]
    worst = (
        SubmissionState.REJECTED,
        SubmissionState.FAILED,
        SubmissionState.HELD,
        SubmissionState.UNCONFIRMED,
        SubmissionState.DUE,
        SubmissionState.SENT,
        SubmissionState.ACCEPTED,
        SubmissionState.FETCHED,
    )
    state = next((s for s in worst if s in states), SubmissionState.MISSING)
    values = [line.kwh for line in lines if line.kwh is not None]
    accepted = sum(1 for s in states if s is SubmissionState.ACCEPTED)
    total = sum(values, Decimal("0.000")) if values else None
    return state, total, f"{accepted}/{days_due} days accepted"
