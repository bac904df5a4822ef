"""Which REDEX monthly-data items a push sends: pure, from the ledger's facts and `now`.

One item per (remote inverter, year) that has a month worth sending. It carries every due
month of that year, because REDEX takes a whole year per item and fusionbridge assumes a
re-sent month overwrites (SPEC §6): repeating a standing value is harmless, leaving it out
(null) might not be.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from fusionbridge.core.due import LedgerView, MonthRecord, drift_kwh, is_due, is_frozen
from fusionbridge.core.inverters import Target
from fusionbridge.core.models import MONTH_KEYS, Month, ScheduleRules, SubmissionState, round_kwh

_RETRIED = (
    SubmissionState.DUE,
    SubmissionState.SENDING,
    SubmissionState.REJECTED,
    SubmissionState.FAILED,
)
"""Stored states after an attempt without success: an answerless try, a crash, a refusal."""


class SendReason(StrEnum):
    """Why a month makes its item go out."""

    NEW = "new"  # never sent
    CHANGED = "changed"  # upstream value differs from the one sent or accepted
    RETRY = "retry"  # last attempt unanswered, cut by a crash, rejected or failed
    FORCED = "forced"  # `push --month M --force`


@dataclass(frozen=True, slots=True)
class PushItem:
    """One remote inverter's year: twelve values (None where the month is not due)."""

    remote_inv_id: str
    year: int
    values: tuple[Decimal | None, ...]
    reasons: tuple[tuple[Month, SendReason], ...]

    def by_key(self) -> dict[str, Decimal | None]:
        """The values under REDEX's month keys, Jan … Dec, all twelve present."""
        return dict(zip(MONTH_KEYS, self.values, strict=True))

    @property
    def months(self) -> tuple[Month, ...]:
        """The months this item carries a value for."""
        return tuple(Month(self.year, i + 1) for i, v in enumerate(self.values) if v is not None)


@dataclass(frozen=True, slots=True)
class Drift:
    """A frozen month whose upstream value moved away from the accepted one."""

    remote_inv_id: str
    month: Month
    difference_kwh: Decimal


@dataclass(frozen=True, slots=True)
class PushPlan:
    """The items to send, drift to show, and inverters for which `--month` is not due."""

    items: tuple[PushItem, ...]
    drift: tuple[Drift, ...] = ()
    not_due: tuple[str, ...] = ()


def send_reason(record: MonthRecord, value: Decimal) -> SendReason | None:
    """Why an unfrozen month carried at `value` needs sending, or None when it does not."""
    if record.state in (None, SubmissionState.MISSING, SubmissionState.FETCHED):
        return SendReason.NEW
    if record.state in _RETRIED:
        return SendReason.RETRY
    reference = record.sent_kwh if record.state is SubmissionState.SENT else record.accepted_kwh
    return SendReason.CHANGED if value != reference else None


@dataclass(slots=True)
class _Year:
    values: dict[Month, Decimal] = field(default_factory=dict)
    reasons: dict[Month, SendReason] = field(default_factory=dict)

    def item(self, remote_inv_id: str, year: int) -> PushItem:
        values = tuple(self.values.get(Month(year, n)) for n in range(1, 13))
        return PushItem(remote_inv_id, year, values, tuple(sorted(self.reasons.items())))


def plan_push(
    targets: Sequence[Target],
    ledger: LedgerView,
    now: datetime,
    schedule: ScheduleRules,
    *,
    month: Month | None = None,
    force: bool = False,
) -> PushPlan:
    """Items for every (inverter, year) with a month to send; `month` keeps only its items."""
    if force and month is None:
        raise ValueError("force needs a month: it re-sends one named month")
    window = schedule.correction_window_months
    items: list[PushItem] = []
    drifts: list[Drift] = []
    not_due: list[str] = []
    for target in targets:
        years: dict[int, _Year] = {}
        for when, record in sorted(ledger.get(target.remote_inv_id, {}).items()):
            frozen = is_frozen(when, record, now, target.zone, window)
            final = record.is_final(when, target.zone)
            forced = force and when == month and final
            if final and record.kwh is not None and (forced or not frozen):
                value = round_kwh(record.kwh)
            elif record.standing_kwh is not None:
                value = record.standing_kwh
            else:
                continue
            if not is_due(when, now, schedule, target):
                continue
            year = years.setdefault(when.year, _Year())
            year.values[when] = value
            difference = drift_kwh(record) if frozen else None
            if difference is not None:
                drifts.append(Drift(target.remote_inv_id, when, difference))
            reason = SendReason.FORCED if forced else None
            if reason is None and not frozen:
                reason = send_reason(record, value)
            if reason is not None:
                year.reasons[when] = reason
        if month is not None and month not in years.get(month.year, _Year()).values:
            not_due.append(target.remote_inv_id)
        for number, year in sorted(years.items()):
            if not year.reasons or (month is not None and month not in year.values):
                continue
            items.append(year.item(target.remote_inv_id, number))
    return PushPlan(tuple(items), tuple(drifts), tuple(not_due))
