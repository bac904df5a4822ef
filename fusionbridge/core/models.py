"""Pure domain values shared by every layer: months, sources, inventory, energy readings."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from functools import lru_cache, total_ordering
from typing import Literal
from zoneinfo import ZoneInfo

MONTH_KEYS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
"""REDEX month keys. The upstream page once writes "July"; its examples use "Jul", as we do."""

INVERTER_TYPE_IDS = frozenset({1, 38})
"""FusionSolar devTypeIds of inverters: 1 string inverter, 38 residential inverter."""

KWH_QUANTUM = Decimal("0.001")
_MONTH_RE = re.compile(r"^(\d{4})-(\d{2})$")


def round_kwh(value: Decimal) -> Decimal:
    """Round to REDEX's three decimals, half up, so the sent value never depends on float quirks."""
    return value.quantize(KWH_QUANTUM, rounding=ROUND_HALF_UP)


@total_ordering
@dataclass(frozen=True, slots=True)
class Month:
    """A calendar month, ordered and shiftable, independent of any zone."""

    year: int
    month: int

    def __post_init__(self) -> None:
        if not 1 <= self.month <= 12:
            raise ValueError(f"month must be 1..12, not {self.month}")
        if not 1970 <= self.year <= 9999:
            raise ValueError(f"year {self.year} is out of range")

    @classmethod
    @lru_cache(maxsize=1024)  # a few hundred distinct months at most; ledgers repeat them
    def parse(cls, text: str) -> Month:
        """Read `YYYY-MM` (cached: a ledger read parses the same few months thousands of times)."""
        match = _MONTH_RE.match(text.strip())
        if not match:
            raise ValueError(f"expected YYYY-MM, got {text!r}")
        return cls(int(match[1]), int(match[2]))

    @classmethod
    def of(cls, day: date) -> Month:
        """The month a date falls in."""
        return cls(day.year, day.month)

    @classmethod
    def containing(cls, instant: datetime, zone: ZoneInfo) -> Month:
        """The month an aware instant falls in, as seen in `zone`."""
        return cls.of(instant.astimezone(zone).date())

    def shift(self, months: int) -> Month:
        """The month `months` later (negative: earlier)."""
        index = self.year * 12 + (self.month - 1) + months
        return Month(index // 12, index % 12 + 1)

    def next(self) -> Month:
        return self.shift(1)

    def previous(self) -> Month:
        return self.shift(-1)

    def first_day(self) -> date:
        return date(self.year, self.month, 1)

    def last_day(self) -> date:
        return date.fromordinal(self.next().first_day().toordinal() - 1)

    def days(self) -> list[date]:
        """Every date of the month."""
        first = self.first_day().toordinal()
        return [date.fromordinal(n) for n in range(first, self.last_day().toordinal() + 1)]

    def months_until(self, other: Month) -> int:
        """How many months from self to other (negative when other is earlier)."""
        return (other.year * 12 + other.month) - (self.year * 12 + self.month)

    @property
    def key(self) -> str:
        """REDEX's three-letter key for this month."""
        return MONTH_KEYS[self.month - 1]

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, Month):
            return NotImplemented
        return (self.year, self.month) < (other.year, other.month)

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"


def month_range(first: Month, last: Month) -> list[Month]:
    """Every month from first to last inclusive (empty when last < first)."""
    return [first.shift(i) for i in range(first.months_until(last) + 1)]


class SourceKind(StrEnum):
    DEVICE = "device"
    PLANT = "plant"


PlantMetric = Literal["inverter_power", "PVYield", "ongrid_power"]
DEVICE_METRIC = "product_power"


@dataclass(frozen=True, slots=True)
class SourceRef:
    """Where a figure comes from in FusionSolar: a device id or a plant code, and the KPI key."""

    kind: SourceKind
    id: str
    metric: str

    def __str__(self) -> str:
        return f"{self.kind.value}:{self.id}:{self.metric}"

    @classmethod
    def parse(cls, text: str) -> SourceRef:
        kind, ident, metric = text.split(":", 2) if text.count(":") >= 2 else ("", "", "")
        if kind not in ("device", "plant") or not ident:
            raise ValueError(f"not a source reference: {text!r}")
        return cls(SourceKind(kind), ident, metric)


@dataclass(frozen=True, slots=True)
class Plant:
    """A FusionSolar plant as listed by `stations` (or legacy `getStationList`)."""

    code: str
    name: str
    capacity_kwp: Decimal | None = None
    grid_connection_date: str | None = None


@dataclass(frozen=True, slots=True)
class Device:
    """A FusionSolar device as listed by `getDevList`."""

    id: int
    plant_code: str
    type_id: int
    name: str = ""
    esn: str | None = None
    model: str | None = None

    @property
    def is_inverter(self) -> bool:
        return self.type_id in INVERTER_TYPE_IDS


@dataclass(frozen=True, slots=True)
class KpiRow:
    """One bucket of a KPI answer: which object, when the bucket starts, and its values.

    `values` keeps every numeric key parsed to Decimal (None for null / "N/A"); `raw` keeps the
    upstream text of each value so a submitted figure is traceable to what Huawei said.
    """

    object_id: str
    bucket_start: datetime
    values: dict[str, Decimal | None]
    raw: dict[str, str | None]

    def local_date(self, zone: ZoneInfo) -> date:
        """The plant-local date the bucket starts on."""
        return self.bucket_start.astimezone(zone).date()


@dataclass(frozen=True, slots=True)
class EnergyReading:
    """A kWh figure for one source and period, with the upstream value and key it came from."""

    source: SourceRef
    period: date | Month
    kwh: Decimal
    raw: str
    key: str
    fetched_at: datetime


class SubmissionState(StrEnum):
    """Where one remote inverter's month stands on its way to REDEX (SPEC §4 `status`).

    `missing`, `fetched` and `due` follow from readings and the clock; the ledger records `due`
    only when an attempt provably did not take effect. `held`: the value fails a hard check and
    is not sent. `sending` is internal: a request carrying the month was begun and no outcome
    recorded. `unconfirmed`: a request carrying it may have reached REDEX (timeout, broken
    connection, 500, crash); the next run sends it once more.
    """

    MISSING = "missing"
    FETCHED = "fetched"
    HELD = "held"
    DUE = "due"
    SENDING = "sending"
    UNCONFIRMED = "unconfirmed"
    SENT = "sent"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class ScheduleRules:
    """When the daily sync and the monthly push happen, as wall times in each inverter's zone."""

    sync_at: time = time(6, 30)
    push_day: int = 3
    push_at: time = time(7, 0)
    correction_window_months: int = 2
