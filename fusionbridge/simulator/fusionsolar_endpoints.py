"""The data endpoints of the FusionSolar simulator: request validation and zone-correct answers.

Batching errors: >100 plant codes → 20014 (KPI) / 20015 (getDevList); >100 device ids → 20016
(KPI) / 20017 (getDevRealKpi); a device of another devTypeId → 20006; a type the KPI endpoints do
not serve → 20013; a collectTime older than the history → 20026.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date, datetime, time
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from fusionbridge.core.models import Month
from fusionbridge.simulator.fleet import (
    BATTERY,
    POWER_SENSOR,
    RESIDENTIAL_INVERTER,
    STRING_INVERTER,
    SimDevice,
    Style,
    kwh,
    month_style,
    month_total,
)

if TYPE_CHECKING:
    from fusionbridge.simulator.fusionsolar import FusionSolarSimulator

Days = tuple[tuple[Style, int], ...]
Handler = Callable[["FusionSolarSimulator", Mapping[str, object], datetime], object]
KPI_TYPES = frozenset({STRING_INVERTER, RESIDENTIAL_INVERTER, BATTERY, 41})
PAGE_SIZES = frozenset({10, 20, 30, 50, 100})
HOUR_WEIGHTS = (1, 2, 4, 6, 8, 9, 9, 8, 6, 4, 2, 1)
"""Share of a day's energy per hour from 07:00 to 18:00 local (sums to 60)."""


class SimError(Exception):
    """A failCode answer, raised inside a handler."""

    def __init__(self, code: int, data: object = None, message: str | None = None) -> None:
        super().__init__(code)
        self.code, self.data, self.message = code, data, message


def render(style: Style, milli: int) -> object:
    """A value as Huawei would write it in this style."""
    if style is Style.NUMBER:
        return float(kwh(milli))
    if style is Style.STRING:
        return str(kwh(milli))
    if style is Style.NA:
        return "N/A"
    return None


def epoch_ms(day: date, zone: ZoneInfo, hour: int = 0) -> int:
    """Local wall time on `day` in `zone`, as epoch milliseconds."""
    return int(datetime.combine(day, time(hour), tzinfo=zone).timestamp() * 1000)


# --- request parsing ---------------------------------------------------------------------------


def _codes(body: Mapping[str, object], too_many: int) -> list[str]:
    raw = body.get("stationCodes")
    codes = [c for c in str(raw).split(",") if c] if isinstance(raw, str) else []
    if not codes:
        raise SimError(20010, None, "plant list cannot be empty")
    if len(codes) > 100:
        raise SimError(too_many, None, "a maximum of 100 plants is allowed")
    return codes


def _collect_time(sim: FusionSolarSimulator, body: Mapping[str, object], now: datetime) -> datetime:
    raw = body.get("collectTime")
    if not isinstance(raw, int) or isinstance(raw, bool):
        raise SimError(20012, None, "query time cannot be empty")
    instant = datetime.fromtimestamp(raw / 1000, tz=now.tzinfo)
    if instant < sim.history_start(now):
        raise SimError(20026, None, "only the latest 365 days can be queried")
    return instant


def _devices(
    sim: FusionSolarSimulator, body: Mapping[str, object], too_many: int, *, kpi: bool
) -> list[SimDevice]:
    type_id = body.get("devTypeId")
    raw = body.get("devIds")
    if not isinstance(type_id, int) or isinstance(type_id, bool):
        raise SimError(20006, None, "devTypeId is missing")
    ids = [part for part in str(raw).split(",") if part] if isinstance(raw, str) else []
    if not ids:
        raise SimError(20011, None, "device list cannot be empty")
    if len(ids) > 100:
        raise SimError(too_many, None, "a maximum of 100 devices is allowed")
    if (kpi and type_id not in KPI_TYPES) or type_id == 46:
        raise SimError(20013, None, "device type not supported by this interface")
    found = []
    for part in ids:
        device = sim.fleet.device(int(part)) if part.lstrip("-").isdigit() else None
        if device is None:
            continue  # Huawei silently skips unknown ids
        if device.type_id != type_id:
            raise SimError(20006, None, "some devices do not match the device type")
        found.append(device)
    return found


# --- plants ------------------------------------------------------------------------------------


def stations(sim: FusionSolarSimulator, body: Mapping[str, object], now: datetime) -> object:
    if not sim.config.stations_allowed:
        raise SimError(401, None, "Invalid access to current interface!")
    page_no, page_size = body.get("pageNo"), body.get("pageSize", 100)
    if not isinstance(page_no, int) or page_no < 1:
        raise SimError(30005, None, "pageNo is invalid")
    if page_size not in PAGE_SIZES or not isinstance(page_size, int):
        raise SimError(30006, None, "pageSize out of range")
    plants = sim.fleet.plants
    page = plants[(page_no - 1) * page_size : page_no * page_size]
    items = [
        {
            "plantCode": p.code,
            "plantName": p.name,
            "plantAddress": "",
            "longitude": "",
            "latitude": "",
            "capacity": float(p.capacity_kwp),
            "contactPerson": None,
            "contactMethod": None,
            "gridConnectionDate": datetime.combine(
                p.grid_connection, time(9, 30), tzinfo=p.zone
            ).isoformat(),
        }
        for p in page
    ]
    return {
        "list": items,
        "pageCount": max(1, -(-len(plants) // page_size)),
        "pageNo": page_no,
        "pageSize": page_size,
        "total": len(plants),
    }


def station_list(sim: FusionSolarSimulator, body: Mapping[str, object], now: datetime) -> object:
    if not sim.config.station_list_allowed:
        raise SimError(401, None, "Invalid access to current interface!")
    return [
        {
            "stationCode": p.code,
            "stationName": p.name,
            "stationAddr": "",
            "capacity": float(p.capacity_kwp / 1000),
            "buildState": None,
            "combineType": None,
            "aidType": 1,
            "stationLinkman": "",
            "linkmanPho": "",
        }
        for p in sim.fleet.plants
    ]


def _plant_item_map(style: Style, milli: int, ongrid: int, capacity: float) -> dict[str, object]:
    return {
        "inverter_power": render(style, milli),
        "PVYield": render(style, milli),
        "ongrid_power": render(style, ongrid),
        "installed_capacity": capacity,
        "radiation_intensity": None,
    }


def _plant_rows(period: str) -> Handler:
    def handler(sim: FusionSolarSimulator, body: Mapping[str, object], now: datetime) -> object:
        codes = _codes(body, 20014)
        at = _collect_time(sim, body, now)
        rows: list[dict[str, object]] = []
        for code in codes:
            plant = sim.fleet.plant(code)
            if plant is None:
                continue
            zone = plant.zone
            local, today = at.astimezone(zone).date(), now.astimezone(zone).date()
            capacity = float(plant.capacity_kwp)

            def days(month: Month, metric: str = "inverter_power", code: str = code) -> Days:
                return sim.fleet.plant_days(code, month, metric)

            for start, hour, style, milli, ongrid in _buckets(
                period, local, today, now, zone, days
            ):
                rows.append(
                    {
                        "stationCode": code,
                        "collectTime": epoch_ms(start, zone, hour),
                        "dataItemMap": _plant_item_map(style, milli, ongrid, capacity),
                    }
                )
        return rows

    return handler


def _buckets(
    period: str,
    local: date,
    today: date,
    now: datetime,
    zone: ZoneInfo,
    days: Callable[[Month, str], Days],
    *,
    with_ongrid: bool = True,
) -> list[tuple[date, int, Style, int, int]]:
    """(bucket day, hour, style, milli, ongrid milli) of the period holding `local`, up to today."""
    out: list[tuple[date, int, Style, int, int]] = []
    if period == "hour":
        if local > today:
            return out
        style, milli = days(Month.of(local), "inverter_power")[local.day - 1]
        if not style.has_value:
            return out
        spread = [milli * w // sum(HOUR_WEIGHTS) for w in HOUR_WEIGHTS]
        spread[6] += milli - sum(spread)
        for offset, part in enumerate(spread):
            hour = 7 + offset
            if datetime.combine(local, time(hour), tzinfo=zone) <= now:
                out.append((local, hour, Style.NUMBER, part, part * 7 // 10))
        return out
    if period == "day":
        month = Month.of(local)
        energy = days(month, "inverter_power")
        ongrid = days(month, "ongrid_power") if with_ongrid else energy
        for day, (style, milli), (_, og) in zip(month.days(), energy, ongrid, strict=True):
            if day <= today and style is not Style.GAP:
                out.append((day, 0, style, milli, og))
        return out
    years = [local.year] if period == "month" else list(range(today.year - 4, today.year + 1))
    for year in years:
        totals = [0, 0]
        for month in (Month(year, m) for m in range(1, 13)):
            if month > Month.of(today):
                break
            up_to = today.day if month == Month.of(today) else None
            month_energy = month_total(days(month, "inverter_power"), up_to)
            month_ongrid = (
                (month_total(days(month, "ongrid_power"), up_to) or 0) if with_ongrid else 0
            )
            if month_energy is None:
                continue
            if period == "month":
                out.append((month.first_day(), 0, month_style(month), month_energy, month_ongrid))
            totals = [totals[0] + month_energy, totals[1] + month_ongrid]
        if period == "year" and totals[0]:
            out.append((date(year, 1, 1), 0, Style.NUMBER, totals[0], totals[1]))
    return out


def station_real_kpi(
    sim: FusionSolarSimulator, body: Mapping[str, object], now: datetime
) -> object:
    rows = []
    for code in _codes(body, 20014):
        plant = sim.fleet.plant(code)
        if plant is None:
            continue
        today = now.astimezone(plant.zone).date()
        month_days = sim.fleet.plant_days(code, Month.of(today))
        style, milli = month_days[today.day - 1]
        month = month_total(month_days, today.day) or 0
        rows.append(
            {
                "stationCode": code,
                "dataItemMap": {
                    "day_power": float(kwh(milli if style.has_value else 0)),
                    "month_power": float(kwh(month)),
                    "total_power": float(kwh(sim.fleet.lifetime_milli(code, today))),
                    "day_income": None,
                    "real_health_state": 3,
                },
            }
        )
    return rows


# --- devices -----------------------------------------------------------------------------------


def dev_list(sim: FusionSolarSimulator, body: Mapping[str, object], now: datetime) -> object:
    wanted = set(_codes(body, 20015))
    return [
        {
            "id": d.id,
            "devName": d.name,
            "devTypeId": d.type_id,
            "esnCode": d.esn,
            "invType": d.model,
            "stationCode": d.plant_code,
            "softwareVersion": "V100R001C00SPC141" if d.is_inverter else None,
            "optimizerNumber": 0 if d.is_inverter else None,
            "latitude": 52.1,
            "longitude": 5.1,
        }
        for d in sim.fleet.devices
        if d.plant_code in wanted
    ]


def _device_item_map(device: SimDevice, style: Style, milli: int) -> dict[str, object]:
    if device.type_id == BATTERY:
        return {
            "charge_cap": render(style, milli),
            "discharge_cap": render(style, milli * 8 // 10),
            "charge_time": None,
            "discharge_time": None,
        }
    return {
        "installed_capacity": device.capacity_w / 1000,
        "product_power": render(style, milli),
        "perpower_ratio": None if not style.has_value else round(milli / device.capacity_w, 3),
    }


def _device_rows(period: str) -> Handler:
    def handler(sim: FusionSolarSimulator, body: Mapping[str, object], now: datetime) -> object:
        devices = _devices(sim, body, 20016, kpi=True)
        at = _collect_time(sim, body, now)
        rows: list[dict[str, object]] = []
        for device in devices:
            zone = sim.fleet.zone_of(device)
            local, today = at.astimezone(zone).date(), now.astimezone(zone).date()

            def days(month: Month, metric: str = "", ident: int = device.id) -> Days:
                return sim.fleet.device_days(ident, month)

            buckets = _buckets(period, local, today, now, zone, days, with_ongrid=False)
            for start, _, style, milli, _ in buckets:
                rows.append(
                    {
                        "devId": device.id,
                        "collectTime": epoch_ms(start, zone),
                        "dataItemMap": _device_item_map(device, style, milli),
                    }
                )
        return rows

    return handler


def dev_real_kpi(sim: FusionSolarSimulator, body: Mapping[str, object], now: datetime) -> object:
    rows = []
    for device in _devices(sim, body, 20017, kpi=False):
        today = now.astimezone(sim.fleet.zone_of(device)).date()
        style, milli = sim.fleet.device_day(device.id, today)
        day = float(kwh(milli)) if style.has_value else 0.0
        items: dict[str, object]
        if device.is_inverter:
            items = {
                "active_power": round(device.capacity_w * 0.0004, 3),
                "day_cap": day,
                "total_cap": float(kwh(sim.fleet.lifetime_milli(device.id, today))),
                "inverter_state": 512.0,
                "run_state": 1,
                "close_time": "N/A",
                "efficiency": 98.4,
            }
        elif device.type_id == BATTERY:
            items = {"battery_soc": 80, "charge_cap": day, "discharge_cap": 0, "run_state": 1}
        elif device.type_id == POWER_SENSOR:
            items = {"active_power": 1537, "active_cap": 322.32, "reverse_active_cap": 583.08}
        else:
            items = {}
        rows.append({"devId": device.id, "dataItemMap": items})
    return rows


HANDLERS: Mapping[str, Handler] = {
    "stations": stations,
    "getStationList": station_list,
    "getStationRealKpi": station_real_kpi,
    "getKpiStationHour": _plant_rows("hour"),
    "getKpiStationDay": _plant_rows("day"),
    "getKpiStationMonth": _plant_rows("month"),
    "getKpiStationYear": _plant_rows("year"),
    "getDevList": dev_list,
    "getDevRealKpi": dev_real_kpi,
    "getDevKpiDay": _device_rows("day"),
    "getDevKpiMonth": _device_rows("month"),
    "getDevKpiYear": _device_rows("year"),
}
