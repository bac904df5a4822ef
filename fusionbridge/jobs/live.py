"""Live plant figures for people: real-time, today's hours, lifetime per year (SPEC §13).

Reads only the plants of configured inverters, from the cached inventory (the sync refreshes
it), spending only what `live_budget` allows; nothing here feeds a submission.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, time
from decimal import Decimal
from zoneinfo import ZoneInfo

from fusionbridge.app import Runtime
from fusionbridge.core.inverters import resolve_inverters
from fusionbridge.core.live_budget import (
    HOURLY,
    REALTIME,
    YEARLY,
    FleetShape,
    LivePlan,
    live_duration_s,
    live_may_start,
    plan_live,
)
from fusionbridge.core.models import KpiRow, SourceKind
from fusionbridge.logs import get_logger
from fusionbridge.store.inventory import Inventory
from fusionbridge.store.live import HourValue, PlantLive, YearValue

log = get_logger(__name__)

YIELD_KEYS = ("inverter_power", "PVYield", "inverterYield")
"""Which plant KPI key is the plant's production, in order of preference."""


@dataclass(frozen=True, slots=True)
class LiveReport:
    plants: int
    calls: Mapping[str, int]
    waiting: Mapping[str, str]


def live_plants(rt: Runtime, inventory: Inventory) -> dict[str, ZoneInfo]:
    """The plants of the configured inverters, each with its inverter's zone."""
    settings = rt.settings
    resolution = resolve_inverters(
        settings.inverter_entries(), inventory.plants, inventory.devices, settings.timezone
    )
    plants: dict[str, ZoneInfo] = {}
    for inverter in resolution.inverters:
        code = inverter.plant.code if inverter.plant else None
        if code is None and inverter.device is not None:
            code = inverter.device.plant_code
        if code is not None:
            plants.setdefault(code, inverter.target.zone)
    return plants


def fleet_shape(rt: Runtime, inventory: Inventory, live_count: int) -> FleetShape:
    """The counts behind every quota: the account's inventory and the configured sources."""
    resolution = resolve_inverters(
        rt.settings.inverter_entries(), inventory.plants, inventory.devices, rt.settings.timezone
    )
    device_sources: Counter[int] = Counter()
    plant_sources = 0
    for inverter in resolution.inverters:
        if inverter.source.kind is SourceKind.PLANT:
            plant_sources += 1
        elif inverter.device is not None:
            device_sources[inverter.device.type_id] += 1
    return FleetShape(
        account_plants=len(inventory.plants),
        account_inverters_by_type=Counter(d.type_id for d in inventory.devices if d.is_inverter),
        plant_sources=plant_sources,
        device_sources_by_type=device_sources,
        live_plants=live_count,
    )


async def plan_for(rt: Runtime) -> tuple[LivePlan, dict[str, ZoneInfo]]:
    """What live would fetch now, and for which plants (nothing before the first inventory)."""
    inventory = await rt.ledger.inventory.load()
    if inventory.refreshed_at is None:
        return LivePlan({}, {"all": "no inventory yet: the first sync lists the plants"}), {}
    plants = live_plants(rt, inventory)
    plan = plan_live(
        rt.clock.now(),
        rt.settings.zone(),
        fleet_shape(rt, inventory, len(plants)),
        interval_min=rt.settings.live.interval_min,
        last_fetch=await rt.ledger.live.live_fetches(),
        used_today=await rt.fusionsolar.calls_today(),
    )
    return plan, plants


def _production(row: KpiRow) -> Decimal | None:
    for key in YIELD_KEYS:
        value = row.values.get(key)
        if value is not None:
            return value
    return None


def _health(value: Decimal | None) -> int | None:
    return None if value is None else int(value)


async def refresh_live(rt: Runtime) -> LiveReport:
    """Fetch what is due of the live figures and store them with their fetch time."""
    plan, plants = await plan_for(rt)
    started = rt.clock.now()  # a round counts from its start, so rounds keep their rhythm
    codes: Sequence[str] = sorted(plants)
    for endpoint, reason in plan.waiting.items():
        log.info("live.waiting", endpoint=endpoint, reason=reason)
    if REALTIME in plan.calls:
        rows = await rt.fusionsolar.plant_real_kpi(codes)
        await rt.ledger.live.save_plant_live(
            PlantLive(
                row.object_id,
                today_kwh=row.values.get("day_power"),
                month_kwh=row.values.get("month_power"),
                lifetime_kwh=row.values.get("total_power"),
                health=_health(row.values.get("real_health_state")),
                fetched_at=row.bucket_start,
            )
            for row in rows
            if row.object_id in plants
        )
        await rt.ledger.live.mark_live_fetch(REALTIME, started)
    if HOURLY in plan.calls:
        await _hourly(rt, codes, plants, started)
    if YEARLY in plan.calls:
        now = rt.clock.now()
        rows = await rt.fusionsolar.plant_kpi("year", codes, now)
        await rt.ledger.live.save_yearly(
            YearValue(row.object_id, row.local_date(plants[row.object_id]).year, kwh, now)
            for row in rows
            if row.object_id in plants and (kwh := _production(row)) is not None
        )
        await rt.ledger.live.mark_live_fetch(YEARLY, now)
    report = LiveReport(len(codes), dict(plan.calls), dict(plan.waiting))
    log.info("live.finished", plants=report.plants, calls=report.calls)
    return report


async def _hourly(
    rt: Runtime, codes: Sequence[str], plants: Mapping[str, ZoneInfo], started: datetime
) -> None:
    """Today's hourly buckets; each plant's day starts at its own local midnight."""
    now = rt.clock.now()
    rows = await rt.fusionsolar.plant_kpi("hour", codes, now)
    values = [
        HourValue(row.object_id, row.bucket_start, kwh, now)
        for row in rows
        if row.object_id in plants and (kwh := _production(row)) is not None
    ]
    starts = [_day_start(now, zone) for zone in plants.values()]
    await rt.ledger.live.save_hourly(list(codes), min(starts, default=now), values)
    await rt.ledger.live.mark_live_fetch(HOURLY, started)


def _day_start(now: datetime, zone: ZoneInfo) -> datetime:
    return datetime.combine(now.astimezone(zone).date(), time(), tzinfo=zone)


async def skip_reason(
    rt: Runtime, upcoming: Mapping[str, datetime | None], waiting: frozenset[str]
) -> str | None:
    """Why this live run must not start (None: go): it must never delay a due sync or push."""
    blocking = sorted(waiting & {"sync", "push"})
    if blocking:
        return f"{' and '.join(blocking)} waiting to run"
    plan, _ = await plan_for(rt)
    if plan.empty:
        return "nothing due within the budget"
    duration = live_duration_s(plan, rt.settings.fusionsolar_settings().min_interval_s)
    return live_may_start(rt.clock.now(), duration, upcoming)
