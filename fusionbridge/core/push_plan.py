"""Which REDEX monthly-data items a push sends: pure, from the ledger's facts and `now`.

One item per (remote inverter, year) that has a month worth sending. It carries every due
month of that year, because REDEX takes a whole year per item: under the overwrite assumption
(documented in `fusionbridge.jobs`) repeating a standing value is harmless, leaving it out
(null) might not be. A held month is the exception: it is left null rather than certified.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from fusionbridge.core.checks import month_check
from fusionbridge.core.due import LedgerView, MonthRecord, drift_kwh, is_due, is_frozen
from fusionbridge.core.inverters import Target
from fusionbridge.core.models import Month, ScheduleRules, SubmissionState, round_kwh

_RETRIED = (SubmissionState.DUE, SubmissionState.SENDING, SubmissionState.REJECTED)
"""Stored states after an attempt that provably did not take effect, a crash, or a 422."""
UNCONFIRMED_RESENDS = 1
"""How many later runs re-send a month whose request may have reached REDEX: never blindly more."""


class SendReason(StrEnum):
    """Why a month makes its item go out."""

    NEW = "new"  # never sent (or held until now)
    CHANGED = "changed"  # upstream value differs from the one sent, accepted or refused
    RETRY = "retry"  # last attempt provably not taken, cut by a crash, unconfirmed or rejected
    FORCED = "forced"  # `push --month M --force`


@dataclass(frozen=True, slots=True)
class PushItem:
    """One remote inverter's year: twelve values rounded once, here (None: not due, or held)."""

    remote_inv_id: str
    year: int
    values: tuple[Decimal | None, ...]
    reasons: tuple[tuple[Month, SendReason], ...]

    @property
    def key(self) -> tuple[str, int]:
        """What REDEX allows once per request: the inverter and the year."""
        return (self.remote_inv_id, self.year)

    def rows(self) -> list[tuple[str, Month, Decimal]]:
        """(inverter, month, kWh) of every month the item carries a value for."""
        return [
            (self.remote_inv_id, Month(self.year, number), value)
            for number, value in enumerate(self.values, start=1)
            if value is not None
        ]


@dataclass(frozen=True, slots=True)
class Held:
    """A due month whose value fails a hard check: not sent, shown with its reason."""

    remote_inv_id: str
    month: Month
    kwh: Decimal
    reason: str


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
    held: tuple[Held, ...] = ()


def send_reason(record: MonthRecord, value: Decimal) -> SendReason | None:
    """Why an unfrozen month carried at `value` needs sending, or None when it does not.

    A `failed` month (processing ended Failed, or a 201 without a usable ProcessId) and one
    unconfirmed again after its one re-send go out only when the value changes (or with
    --force): never blindly.
    """
    state = record.state
    if state in (None, SubmissionState.MISSING, SubmissionState.FETCHED, SubmissionState.HELD):
        return SendReason.NEW
    if state in _RETRIED:
        return SendReason.RETRY
    if state is SubmissionState.UNCONFIRMED and record.unconfirmed_runs <= UNCONFIRMED_RESENDS:
        return SendReason.RETRY
    if state in (SubmissionState.FAILED, SubmissionState.UNCONFIRMED, SubmissionState.SENT):
        reference = record.sent_kwh
    else:
        reference = record.accepted_kwh
    return SendReason.CHANGED if value != reference else None


def hold_reason(
    record: MonthRecord, value: Decimal, capacity_kwp: Decimal | None, month: Month, target: Target
) -> str | None:
    """Why `value` must not go out, or None; a value REDEX already took (forced) is not held again."""
    if value in (record.sent_kwh, record.accepted_kwh):
        return None
    return month_check(value, capacity_kwp, month, target.zone)


@dataclass(slots=True)
class _Year:
    values: dict[Month, Decimal] = field(default_factory=dict)
    reasons: dict[Month, SendReason] = field(default_factory=dict)
    held: set[Month] = field(default_factory=set)

    def item(self, remote_inv_id: str, year: int) -> PushItem:
        values = tuple(self.values.get(Month(year, n)) for n in range(1, 13))
        return PushItem(remote_inv_id, year, values, tuple(sorted(self.reasons.items())))


def plan_push(
    targets: Sequence[Target],
    ledger: LedgerView,
    now: datetime,
    schedule: ScheduleRules,
    *,
    capacities: Mapping[str, Decimal | None] | None = None,
    month: Month | None = None,
    inverter: str | None = None,
    force: bool = False,
) -> PushPlan:
    """Items for every (inverter, year) with a month to send; `month`/`inverter` narrow them.

    `capacities` (kWp per remote inverter) bound what a month may hold; a month failing a hard
    check is held (left null) unless forced for one named inverter, and nothing else is affected.
    """
    if force and month is None:
        raise ValueError("force needs a month: it re-sends one named month")
    window = schedule.correction_window_months
    capacity_of = capacities or {}
    items: list[PushItem] = []
    drifts: list[Drift] = []
    not_due: list[str] = []
    held: list[Held] = []
    for target in targets:
        if inverter is not None and target.remote_inv_id != inverter:
            continue
        years: dict[int, _Year] = {}
        for when, record in sorted(ledger.get(target.remote_inv_id, {}).items()):
            frozen = is_frozen(when, record, now, target.zone, window)
            final = record.is_final(when, target.zone)
            forced = force and when == month and final
            if final and record.kwh is not None and (forced or not frozen):
                value = round_kwh(record.kwh) if record.kwh.is_finite() else record.kwh
            elif record.standing_kwh is not None:
                value = record.standing_kwh
            else:
                continue
            if not is_due(when, now, schedule, target):
                continue
            year = years.setdefault(when.year, _Year())
            if not frozen and not (forced and inverter is not None):
                capacity = capacity_of.get(target.remote_inv_id)
                reason = hold_reason(record, value, capacity, when, target)
                if reason is not None:
                    held.append(Held(target.remote_inv_id, when, value, reason))
                    year.held.add(when)
                    continue
            year.values[when] = value
            difference = drift_kwh(record) if frozen else None
            if difference is not None:
                drifts.append(Drift(target.remote_inv_id, when, difference))
            why = SendReason.FORCED if forced else None
            if why is None and not frozen:
                why = send_reason(record, value)
            if why is not None:
                year.reasons[when] = why
        if month is not None and not _carries(years.get(month.year), month):
            not_due.append(target.remote_inv_id)
        for number, year in sorted(years.items()):
            if not year.reasons or (month is not None and month not in year.values):
                continue
            items.append(year.item(target.remote_inv_id, number))
    return PushPlan(tuple(items), tuple(drifts), tuple(not_due), tuple(held))


def _carries(year: _Year | None, month: Month) -> bool:
    return year is not None and (month in year.values or month in year.held)
