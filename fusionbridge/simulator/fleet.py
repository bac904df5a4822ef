"""A deterministic FusionSolar fleet and its generation: the truth the simulator serves.

Pure: the same spec gives the same plants, devices and kWh on every machine and run. Daily kWh is
a function of (device, local date) in exact milli-kWh; a month is the exact sum of its days.

How values are presented (tests rely on this):
- day 5 of every month: no bucket at all, for every device and plant (a logger outage);
- day 6: the energy key is `null`; day 7: it is the string `"N/A"`; day 8: a numeric string;
- other days: a JSON number, except ~3 % of (inverter, day) pairs with no bucket (hash-chosen);
- month and year rows: numbers, except even months whose energy key is a numeric string.
Days without a value (5, 6, 7 and the hash-chosen gaps) add nothing to months, plants or years.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from enum import Enum
from functools import lru_cache
from zoneinfo import ZoneInfo

from fusionbridge.core.models import Month

ZONES = (
    "Europe/Amsterdam",
    "America/Sao_Paulo",
    "Asia/Tokyo",
    "Asia/Ho_Chi_Minh",
    "Australia/Sydney",
)
SOUTHERN = frozenset({"America/Sao_Paulo", "Australia/Sydney"})
CITY = {
    "Europe/Amsterdam": "Utrecht",
    "America/Sao_Paulo": "Campinas",
    "Asia/Tokyo": "Chiba",
    "Asia/Ho_Chi_Minh": "Long An",
    "Australia/Sydney": "Newcastle",
}
STRING_INVERTER, RESIDENTIAL_INVERTER, BATTERY, POWER_SENSOR, DONGLE = 1, 38, 39, 47, 62
INVERTER_MODELS = {
    STRING_INVERTER: (("SUN2000-50KTL-M3", 50_000), ("SUN2000-100KTL-M1", 100_000)),
    RESIDENTIAL_INVERTER: (("SUN2000-5KTL-L1", 5_000), ("SUN2000-6KTL-L1", 6_000)),
}
MILLI = Decimal("0.001")
GAP_DAY, NULL_DAY, NA_DAY, STRING_DAY = 5, 6, 7, 8
COUNTER_EPOCH = date(2024, 1, 1)
"""Where the simulated lifetime counters start counting the fleet's days."""
ONGRID_SHARE = (7, 10)
"""Exported share of generation: ongrid_power = floor(7/10 of the day's generation)."""


class Style(Enum):
    """How one value is shown on the wire."""

    NUMBER = "number"
    STRING = "string"
    NULL = "null"
    NA = "N/A"
    GAP = "gap"

    @property
    def has_value(self) -> bool:
        return self is Style.NUMBER or self is Style.STRING


_FIXED_STYLES = {
    GAP_DAY: Style.GAP,
    NULL_DAY: Style.NULL,
    NA_DAY: Style.NA,
    STRING_DAY: Style.STRING,
}


def day_style(day: date) -> Style:
    """The style fixed by the day of the month (see the module docstring)."""
    return _FIXED_STYLES.get(day.day, Style.NUMBER)


def month_style(month: Month) -> Style:
    return Style.STRING if month.month % 2 == 0 else Style.NUMBER


def kwh(milli: int) -> Decimal:
    """Milli-kWh as an exact 3-decimal Decimal."""
    return Decimal(milli) * MILLI


@dataclass(frozen=True, slots=True)
class FleetSpec:
    """The fleet's size: inverters go round-robin over plants; even plants hold type 1, odd 38."""

    plants: int = 12
    inverters: int = 250
    seed: int = 2024
    offset: int = 0
    """Shifts device ids and plant codes: Huawei's are global, so simulated accounts share none."""


@dataclass(frozen=True, slots=True)
class SimPlant:
    index: int
    code: str
    name: str
    zone: ZoneInfo
    capacity_kwp: Decimal
    grid_connection: date


@dataclass(frozen=True, slots=True)
class SimDevice:
    id: int
    plant_code: str
    type_id: int
    name: str
    esn: str | None
    model: str | None
    capacity_w: int = 0

    @property
    def is_inverter(self) -> bool:
        return self.type_id in (STRING_INVERTER, RESIDENTIAL_INVERTER)


@dataclass
class Fleet:
    """Plants, devices and the exact generation of each; built from a FleetSpec."""

    spec: FleetSpec
    plants: list[SimPlant] = field(init=False)
    devices: list[SimDevice] = field(init=False)

    def __post_init__(self) -> None:
        spec = self.spec
        if spec.plants < 1 or spec.inverters < 0:
            raise ValueError("a fleet needs at least one plant")
        self.plants = []
        self.devices = []
        self._inverters: dict[str, list[SimDevice]] = {}
        first = 1_000_000_035_000_000 + spec.offset * 1_000_000
        next_id = iter(range(first, first + 1_000_000))
        per_plant = [spec.inverters // spec.plants] * spec.plants
        for i in range(spec.inverters % spec.plants):
            per_plant[i] += 1
        for index, count in enumerate(per_plant):
            self._add_plant(index, count, next_id)
        self._plants = {p.code: p for p in self.plants}
        self._devices = {d.id: d for d in self.devices}
        self._revisions: dict[tuple[int, date], int] = {}
        self._before: dict[tuple[int | str, Month], int] = {}  # counter totals of whole months

    def _add_plant(self, index: int, inverters: int, ids: Iterator[int]) -> None:
        zone_name = ZONES[index % len(ZONES)]
        code = f"NE={33_554_432 + self.spec.offset * 100_000 + index * 7}"
        type_id = STRING_INVERTER if index % 2 == 0 else RESIDENTIAL_INVERTER
        built: list[SimDevice] = []
        for n in range(inverters):
            model, watts = INVERTER_MODELS[type_id][(index + n) % 2]
            ident = next(ids)
            built.append(
                SimDevice(
                    id=ident,
                    plant_code=code,
                    type_id=type_id,
                    name=f"Inverter-{n + 1}",
                    esn=f"{'ES' if type_id == STRING_INVERTER else 'HV'}{ident % 10**10:010d}",
                    model=model,
                    capacity_w=watts,
                )
            )
        extras = [SimDevice(next(ids), code, DONGLE, "Dongle-1", f"DG{index:010d}", "SDongleA-05")]
        extras.append(SimDevice(next(ids), code, POWER_SENSOR, "Meter-1", None, None))
        if type_id == RESIDENTIAL_INVERTER:
            extras.append(SimDevice(next(ids), code, BATTERY, "Battery-1", None, None, 2_000))
        capacity = Decimal(sum(d.capacity_w for d in built) * 11) / Decimal(10_000)
        self.plants.append(
            SimPlant(
                index=index,
                code=code,
                name=f"{CITY[zone_name]} {index + 1:03d}",
                zone=ZoneInfo(zone_name),
                capacity_kwp=capacity,
                grid_connection=date(2021, 1 + index % 12, 1 + index % 28),
            )
        )
        self._inverters[code] = built
        self.devices.extend([*extras[:1], *built, *extras[1:]])

    # --- lookups ------------------------------------------------------------------------------

    def plant(self, code: str) -> SimPlant | None:
        return self._plants.get(code)

    def device(self, ident: int) -> SimDevice | None:
        return self._devices.get(ident)

    def inverters(self, plant_code: str | None = None) -> list[SimDevice]:
        if plant_code is not None:
            return list(self._inverters.get(plant_code, []))
        return [d for d in self.devices if d.is_inverter]

    def zone_of(self, device: SimDevice) -> ZoneInfo:
        return self._plants[device.plant_code].zone

    # --- generation ---------------------------------------------------------------------------

    def revise(self, device_id: int, day: date, delta_milli: int) -> None:
        """Change a valued day from now on, as Huawei does when late logger data arrives.

        The device's month, and its plant's day and month, move with it.
        """
        style, milli = self.device_day(device_id, day)
        if not style.has_value or milli + delta_milli < 0:
            raise ValueError(f"device {device_id} has no value on {day} to revise by that much")
        key = (device_id, day)
        self._revisions[key] = self._revisions.get(key, 0) + delta_milli
        self._before.clear()

    def corrupt(self, device_id: int, day: date, milli: int) -> None:
        """Make one valued day report `milli` (negative, absurd), as a faulty logger would."""
        style, current = self.device_day(device_id, day)
        if not style.has_value:
            raise ValueError(f"device {device_id} has no value on {day} to corrupt")
        key = (device_id, day)
        self._revisions[key] = self._revisions.get(key, 0) + milli - current
        self._before.clear()

    def device_days(self, device_id: int, month: Month) -> tuple[tuple[Style, int], ...]:
        """(style, milli-kWh) for every day of the month; milli is 0 when the style has no value."""
        device = self._devices[device_id]
        plant = self._plants[device.plant_code]
        days = _month_of_days(
            self.spec.seed, device_id, device.capacity_w, plant.zone.key in SOUTHERN, month
        )
        if not self._revisions:
            return days
        return tuple(
            (style, milli + self._revisions.get((device_id, day), 0))
            for day, (style, milli) in zip(month.days(), days, strict=True)
        )

    def device_day(self, device_id: int, day: date) -> tuple[Style, int]:
        return self.device_days(device_id, Month.of(day))[day.day - 1]

    def plant_days(
        self, code: str, month: Month, metric: str = "inverter_power"
    ) -> tuple[tuple[Style, int], ...]:
        """The plant's days: the sum of its inverters that have a value (ongrid: 7/10 of it)."""
        return _plant_month(self, code, month, metric)

    def lifetime_milli(self, source: int | str, today: date) -> int:
        """The lifetime counter (`total_cap` of a device, `total_power` of a plant) on `today`.

        An opening of 1.2 kWh per installed W at COUNTER_EPOCH plus every valued day since,
        today included: exactly what the served day values add up to.
        """
        if isinstance(source, int):
            opening = self._devices[source].capacity_w * 1200
        else:
            opening = sum(d.capacity_w * 1200 for d in self.inverters(source))
        last = Month.of(today)
        return (
            opening
            + self._months_before(source, last)
            + (month_total(self._source_days(source, last), today.day) or 0)
        )

    def _source_days(self, source: int | str, month: Month) -> tuple[tuple[Style, int], ...]:
        if isinstance(source, int):
            return self.device_days(source, month)
        return self.plant_days(source, month)

    def _months_before(self, source: int | str, month: Month) -> int:
        """The valued days of every whole month from COUNTER_EPOCH up to `month`, remembered."""
        key = (source, month)
        known = self._before.get(key)
        if known is not None:
            return known
        total, start = 0, Month.of(COUNTER_EPOCH)
        earlier = month.previous()
        if earlier >= start:
            total = self._months_before(source, earlier) + (
                month_total(self._source_days(source, earlier)) or 0
            )
        self._before[key] = total
        return total


def month_total(days: Sequence[tuple[Style, int]], up_to: int | None = None) -> int | None:
    """Exact milli-kWh sum of the valued days (up to day `up_to`); None when no day has a value."""
    chosen = days if up_to is None else days[:up_to]
    valued = [milli for style, milli in chosen if style is Style.NUMBER or style is Style.STRING]
    return sum(valued) if valued else None


@lru_cache(maxsize=64)
def _month_shape(month: Month, southern: bool) -> tuple[tuple[Style, int], ...]:
    """Per day: its fixed style and the season's sun hours (in thousandths) for the hemisphere."""
    shift = 182 if southern else 0
    shape = []
    for day in month.days():
        angle = 2 * math.pi * ((day.timetuple().tm_yday + shift - 172) % 365) / 365
        shape.append((day_style(day), int(3500 + 1500 * math.cos(angle))))
    return tuple(shape)


@lru_cache(maxsize=2048)
def _month_of_days(
    seed: int, device_id: int, capacity_w: int, southern: bool, month: Month
) -> tuple[tuple[Style, int], ...]:
    digest = hashlib.blake2b(
        f"{seed}:{device_id}:{month}".encode(), digest_size=64, person=b"fusionsim"
    ).digest()
    days = []
    for n, (style, sun_hours_milli) in enumerate(_month_shape(month, southern)):
        if style is Style.NUMBER and digest[32 + n] < 8:
            style = Style.GAP
        if capacity_w == 0 or not style.has_value:
            days.append((style, 0))
            continue
        weather = 300 + digest[n] * 800 // 256
        days.append((style, capacity_w * sun_hours_milli * weather // 1_000_000))
    return tuple(days)


def _plant_month(
    fleet: Fleet, code: str, month: Month, metric: str
) -> tuple[tuple[Style, int], ...]:
    inverter_days = [fleet.device_days(d.id, month) for d in fleet.inverters(code)]
    days = []
    for n, day in enumerate(month.days()):
        fixed = day_style(day)
        valued = [per_day[n][1] for per_day in inverter_days if per_day[n][0].has_value]
        if not fixed.has_value:
            days.append((fixed, 0))
        elif not valued:
            days.append((Style.GAP, 0))
        else:
            total = sum(valued)
            if metric == "ongrid_power":
                total = total * ONGRID_SHARE[0] // ONGRID_SHARE[1]
            days.append((fixed, total))
    return tuple(days)
