"""A daily inverter's month for the evidence bundle: its days, baseline and day requests (SPEC §11).

A daily-registered inverter submits days, not months: the month's submitted value is the sum of
its days, each day traced to the FusionSolar answer it was read from and to every batches
request that carried it, and the running total to the baseline it starts from. Pure, like the
bundle; `evidence.day_gather` reads these from the ledger.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING

from fusionbridge.core.daily_plan import DayFacts
from fusionbridge.evidence.raw import TracedReading

if TYPE_CHECKING:  # the ledger's row types only: this module stays pure, as the bundle is
    from fusionbridge.store.day_evidence import DayItem
    from fusionbridge.store.day_submissions import Baseline


@dataclass(frozen=True, slots=True)
class EvidenceDay:
    """One day as status shows it, the reading it came from and the requests that carried it."""

    day: date
    kwh: Decimal | None
    accumulated_kwh: Decimal | None
    state: str
    facts: DayFacts
    reading: TracedReading | None
    requests: tuple[DayItem, ...]


@dataclass(frozen=True, slots=True)
class DailyMonth:
    """Everything the ledger holds about a daily inverter's month."""

    baseline: Baseline | None
    previous_day: tuple[date, Decimal] | None
    """The last day sent before the month and its running total: where the month's totals go on."""
    days: tuple[EvidenceDay, ...]
    counter: TracedReading | None = None
    """The baseline's lifetime-counter reading, linked to the FusionSolar answer it came from."""

    def readings(self) -> tuple[TracedReading, ...]:
        """Every reading of the month whose raw answer belongs in the bundle."""
        return (
            *(d.reading for d in self.days if d.reading is not None),
            *((self.counter,) if self.counter else ()),
        )

    @property
    def sent_kwh(self) -> Decimal | None:
        """The month as submitted: the sum of its days' latest sent values (None: none sent)."""
        sent = [d.facts.kwh_sent for d in self.days if d.facts.kwh_sent is not None]
        return sum(sent, Decimal("0.000")) if sent else None

    @property
    def accepted_kwh(self) -> Decimal | None:
        accepted = [d.facts.accepted_kwh for d in self.days if d.facts.accepted_kwh is not None]
        return sum(accepted, Decimal("0.000")) if accepted else None


@dataclass(frozen=True, slots=True)
class DayRequestFile:
    """A batches request as logged before it left, and REDEX's answer if one came."""

    id: int
    payload: str
    begun_at: datetime
    finished_at: datetime | None
    answer_status: int | None
    answer_body: str | None
    answered_at: datetime | None


def day_process_ids(months: Sequence[DailyMonth]) -> set[int]:
    """Every ProcessId a day of these months was sent under: their status history belongs in."""
    return {
        item.process_id
        for m in months
        for d in m.days
        for item in d.requests
        if item.process_id is not None
    } | {d.facts.process_id for m in months for d in m.days if d.facts.process_id is not None}
