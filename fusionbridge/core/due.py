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

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import Decimal
from zoneinfo import ZoneInfo

from fusionbridge.core.inverters import Target
from fusionbridge.core.models import Month, ScheduleRules, SubmissionState, round_kwh

_IN_FLIGHT = (
    SubmissionState.SENDING,
    SubmissionState.SENT,
    SubmissionState.DUE,
    SubmissionState.UNCONFIRMED,
)
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
    unconfirmed_runs: int = 0  # runs in a row whose request for it may have reached REDEX

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


def push_time(month: Month, schedule: ScheduleRules, zone: ZoneInfo) -> datetime:
    """When `month` becomes due: day `push_day` of the next month at `push_at`, local."""
    following = month.next()
    push_day = date(following.year, following.month, schedule.push_day)
    return local_instant(push_day, schedule.push_at, zone)


def is_due(month: Month, now: datetime, schedule: ScheduleRules, target: Target) -> bool:
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
    target: Target, month: Month, record: MonthRecord, now: datetime, schedule: ScheduleRules
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
