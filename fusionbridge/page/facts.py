"""What the page is built from: plain values read from the ledger and the daemon at one instant."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from fusionbridge.core.models import Month


@dataclass(frozen=True, slots=True)
class MonthFacts:
    month: Month
    kwh: Decimal | None
    state: str
    drift_kwh: Decimal | None = None
    last_error: str | None = None
    findings: tuple[str, ...] = ()
    deadline: date | None = None  # the I-REC issuance deadline, overrides applied (None: the rule)


@dataclass(frozen=True, slots=True)
class InverterFacts:
    remote_inv_id: str
    source: str
    zone: ZoneInfo
    plant_code: str | None
    months: Mapping[Month, MonthFacts]
    resolved: bool = True


@dataclass(frozen=True, slots=True)
class PlantFacts:
    code: str
    name: str
    zone: ZoneInfo
    today_kwh: Decimal | None = None
    lifetime_kwh: Decimal | None = None
    health: int | None = None
    fetched_at: datetime | None = None
    hours: Mapping[int, Decimal] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class JobFacts:
    last_success_at: datetime | None = None
    last_failure_at: datetime | None = None
    last_error: str | None = None
    running: bool = False


@dataclass(frozen=True, slots=True)
class AccountFacts:
    """One FusionSolar account: which process last worked for it, and whether it still does."""

    name: str
    last_worked_by: str | None
    last_worked_at: datetime | None
    working: bool


@dataclass(frozen=True, slots=True)
class PageFacts:
    """Everything the page shows, as read from the ledger and the daemon at one instant."""

    now: datetime
    zone: ZoneInfo
    version: str
    failing: Sequence[str]
    jobs: Mapping[str, JobFacts]
    next_runs: Mapping[str, datetime | None]
    calls_today: Mapping[str, int]
    inverters: Sequence[InverterFacts]
    plants: Sequence[PlantFacts]
    live_interval_min: int
    accounts: Sequence[AccountFacts] = ()
