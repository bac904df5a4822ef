"""What the live-data job may call now without costing the sync anything (SPEC §13). Pure.

How the budget is computed, per FusionSolar endpoint E and plant-local quota day:

* Huawei's daily cap (accounts created after mid-2022, reference §9.2), with P = plants the
  account lists and D_t = inverters of device type t:
  plant KPI (`getKpiStation{Hour,Day,Month,Year}`) and `getDevList`: ceil(P/100) + 24;
  device KPI (`getDevKpi{Day,Month,Year}`): Σ_t ceil(D_t/100) + 24; `stations`:
  ceil(P/100)·10 + 24. `getStationRealKpi` has no daily cap but a window: ceil(P/100) calls
  per 5 minutes, so live reads it at most once per max(interval_min, 5) minutes.
* The sync's need of E for one day is what one daily sync costs with the configured
  inverters' batching (SPEC §6): with p = plant sources and d_t = device sources of type t,
  `getKpiStationMonth` and `getKpiStationDay` 2·ceil(p/100) each, `getDevKpiMonth` and
  `getDevKpiDay` 2·Σ_t ceil(d_t/100) each (two calendar years or two months: the current and
  the previous one), `stations` ceil(P/100) and `getDevList` ceil(P/100) (the daily inventory
  refresh). The live endpoints (`getStationRealKpi`, `getKpiStationHour`, `getKpiStationYear`)
  are not used by the sync, so their need is 0 — the rule still holds if that ever changes.
* Live may spend on E today: cap(E) - calls already made on E today - need(E) - 1, the last
  one kept for `fusionbridge probe` or a hand-run command. A live call group (all batches of
  one endpoint) goes out only if all its batches fit; otherwise it waits for the next day.

So with 100 plants the hourly curve is read every hour (24 of 25 calls; 1 kept), with 1,000
plants (10 batches, cap 34) it is read three times a day, and the sync never meets a spent cap.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

PER_CALL = 100
REALTIME_WINDOW = timedelta(minutes=5)
HOURLY_EVERY = timedelta(hours=1)
RESERVED_FOR_COMMANDS = 1
REALTIME, HOURLY, YEARLY = "getStationRealKpi", "getKpiStationHour", "getKpiStationYear"
LIVE_ENDPOINTS = (REALTIME, HOURLY, YEARLY)
PLANT_KPI = ("getKpiStationHour", "getKpiStationDay", "getKpiStationMonth", "getKpiStationYear")
DEVICE_KPI = ("getDevKpiDay", "getDevKpiMonth", "getDevKpiYear")


def batches(count: int) -> int:
    return math.ceil(count / PER_CALL)


@dataclass(frozen=True, slots=True)
class FleetShape:
    """How many things the account and the configuration hold: the inputs of every quota."""

    account_plants: int
    account_inverters_by_type: Mapping[int, int]
    plant_sources: int
    device_sources_by_type: Mapping[int, int]
    live_plants: int


def daily_cap(endpoint: str, shape: FleetShape) -> int | None:
    """Huawei's calls per day on `endpoint` for this account (None: no daily cap)."""
    plants = batches(shape.account_plants)
    if endpoint in (*PLANT_KPI, "getDevList"):
        return plants + 24
    if endpoint in DEVICE_KPI:
        return sum(batches(n) for n in shape.account_inverters_by_type.values()) + 24
    if endpoint == "stations":
        return plants * 10 + 24
    return None


def sync_need(endpoint: str, shape: FleetShape) -> int:
    """Calls one daily sync makes on `endpoint` with the configured inverters' batching."""
    plant_batches = batches(shape.plant_sources)
    device_batches = sum(batches(n) for n in shape.device_sources_by_type.values())
    if endpoint in ("getKpiStationMonth", "getKpiStationDay"):
        return 2 * plant_batches
    if endpoint in ("getDevKpiMonth", "getDevKpiDay"):
        return 2 * device_batches
    if endpoint in ("stations", "getDevList"):
        return batches(shape.account_plants)
    return 0


def live_allowance(endpoint: str, shape: FleetShape, used_today: int) -> int | None:
    """Calls live may still make on `endpoint` today (None: no daily cap applies)."""
    cap = daily_cap(endpoint, shape)
    if cap is None:
        return None
    return max(0, cap - used_today - sync_need(endpoint, shape) - RESERVED_FOR_COMMANDS)


@dataclass(frozen=True, slots=True)
class LivePlan:
    """Which live reads are due now; `calls` per endpoint for those that are."""

    calls: Mapping[str, int]
    waiting: Mapping[str, str]

    @property
    def empty(self) -> bool:
        return not self.calls


def plan_live(
    now: datetime,
    zone: ZoneInfo,
    shape: FleetShape,
    *,
    interval_min: int,
    last_fetch: Mapping[str, datetime],
    used_today: Mapping[str, int],
) -> LivePlan:
    """Due reads that fit the budget: real-time every interval, hourly, yearly once a day."""
    group = batches(shape.live_plants)
    calls: dict[str, int] = {}
    waiting: dict[str, str] = {}
    if interval_min <= 0 or group == 0:
        return LivePlan({}, {})
    every = {
        REALTIME: max(timedelta(minutes=interval_min), REALTIME_WINDOW),
        HOURLY: max(timedelta(minutes=interval_min), HOURLY_EVERY),
    }
    today = now.astimezone(zone).date()
    for endpoint in LIVE_ENDPOINTS:
        last = last_fetch.get(endpoint)
        if endpoint == YEARLY:
            due = last is None or last.astimezone(zone).date() != today
        else:
            due = last is None or now - last >= every[endpoint] - timedelta(seconds=1)
        if not due:
            continue
        allowance = live_allowance(endpoint, shape, used_today.get(endpoint, 0))
        if allowance is not None and allowance < group:
            waiting[endpoint] = (
                f"{allowance} calls left today after the sync's share, {group} needed"
            )
            continue
        calls[endpoint] = group
    return LivePlan(calls, waiting)


def live_duration_s(plan: LivePlan, min_interval_s: float) -> float:
    """How long the plan's calls take at worst: one after another, each maybe a full pace apart."""
    return sum(plan.calls.values()) * min_interval_s


def live_may_start(
    now: datetime, duration_s: float, upcoming: Mapping[str, datetime | None]
) -> str | None:
    """None when live can run and finish before the next sync or push; else why not."""
    end = now + timedelta(seconds=duration_s)
    for job in ("sync", "push"):
        at = upcoming.get(job)
        if at is not None and at <= end:
            return f"{job} is due at {at.isoformat()} before live data could finish"
    return None
