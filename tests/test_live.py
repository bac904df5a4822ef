"""Live plant data: within Huawei's limits, never spending the sync's share, never delaying it.

The budget is pure and checked by table; then a whole virtual day runs against the simulator:
live every 15 minutes as the daemon would (asking `skip_reason` with the schedule's next-fire
times), the daily sync at its time, and every call counted at the simulator.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from fusionbridge.clock import VirtualClock
from fusionbridge.core.live_budget import (
    HOURLY,
    REALTIME,
    YEARLY,
    FleetShape,
    daily_cap,
    live_allowance,
    live_duration_s,
    live_may_start,
    plan_live,
    sync_need,
)
from fusionbridge.daemon.schedule import Schedule
from fusionbridge.jobs.live import refresh_live, skip_reason
from fusionbridge.jobs.sync import sync
from fusionbridge.simulator.fleet import FleetSpec
from tests.pipeline_harness import serve_pipeline

ZONE = ZoneInfo("Europe/Amsterdam")


def shape(plants: int, *, plant_sources: int = 0, devices: int = 0) -> FleetShape:
    return FleetShape(
        account_plants=plants,
        account_inverters_by_type={1: devices},
        plant_sources=plant_sources,
        device_sources_by_type={1: devices} if devices else {},
        live_plants=plant_sources or plants,
    )


@pytest.mark.parametrize(
    ("endpoint", "plants", "cap"),
    [
        ("getKpiStationHour", 1, 25),
        ("getKpiStationHour", 1000, 34),
        ("getKpiStationYear", 101, 26),
        ("getKpiStationDay", 100, 25),
        ("getDevList", 250, 27),
        ("stations", 1000, 124),
        ("getStationRealKpi", 1000, None),
    ],
)
def test_daily_caps_follow_huaweis_formula(endpoint: str, plants: int, cap: int | None) -> None:
    assert daily_cap(endpoint, shape(plants)) == cap


def test_the_syncs_share_is_its_batching_and_live_gets_only_the_rest() -> None:
    fleet = shape(1000, plant_sources=250, devices=450)
    assert sync_need("getKpiStationMonth", fleet) == 6  # 3 batches of plants, two years
    assert sync_need("getKpiStationDay", fleet) == 6
    assert sync_need("getDevKpiDay", fleet) == 10  # 5 batches of type-1 devices, two months
    assert sync_need(HOURLY, fleet) == 0
    # 34 per day; the sync needs 6, one is kept for `probe`: 27 left, less what was spent.
    assert live_allowance("getKpiStationDay", fleet, used_today=0) == 27
    assert live_allowance("getKpiStationDay", fleet, used_today=25) == 2
    assert live_allowance("getKpiStationDay", fleet, used_today=40) == 0
    assert live_allowance(HOURLY, fleet, used_today=30) == 3
    assert live_allowance(REALTIME, fleet, used_today=10_000) is None


def test_plan_reads_real_time_each_interval_hours_hourly_years_daily() -> None:
    now = datetime(2026, 6, 10, 10, 0, tzinfo=UTC)
    fleet = shape(150)

    def plan(last: dict[str, datetime], used: dict[str, int] | None = None) -> Any:
        return plan_live(now, ZONE, fleet, interval_min=15, last_fetch=last, used_today=used or {})

    assert dict(plan({}).calls) == {REALTIME: 2, HOURLY: 2, YEARLY: 2}
    recent = {REALTIME: now - timedelta(minutes=5), HOURLY: now - timedelta(minutes=30)}
    recent[YEARLY] = now - timedelta(hours=3)
    assert plan(recent).empty
    later = {k: v - timedelta(minutes=55) for k, v in recent.items()}
    assert dict(plan(later).calls) == {REALTIME: 2, HOURLY: 2}
    spent = plan(later, {HOURLY: 24})  # cap 26, 1 kept: only one call left, two needed
    assert dict(spent.calls) == {REALTIME: 2}
    assert HOURLY in spent.waiting
    # A five-minute interval is the real-time floor: Huawei allows one round per 5 minutes.
    fast = plan_live(
        now,
        ZONE,
        fleet,
        interval_min=1,
        last_fetch={REALTIME: now - timedelta(minutes=2), HOURLY: now, YEARLY: now},
        used_today={},
    )
    assert fast.empty
    assert plan_live(now, ZONE, fleet, interval_min=0, last_fetch={}, used_today={}).empty


def test_live_never_starts_when_it_could_not_finish_before_a_due_sync() -> None:
    now = datetime(2026, 6, 10, 4, 20, tzinfo=UTC)  # 06:20 in Amsterdam; sync at 06:30
    big = plan_live(now, ZONE, shape(1000), interval_min=15, last_fetch={}, used_today={})
    duration = live_duration_s(big, 65.0)
    assert duration == 30 * 65.0
    upcoming = {"sync": datetime(2026, 6, 10, 4, 30, tzinfo=UTC), "push": None}
    reason = live_may_start(now, duration, upcoming)
    assert reason is not None
    assert reason.startswith("sync is due at")
    assert live_may_start(now - timedelta(hours=1), duration, upcoming) is None


@pytest.mark.timeout(180)  # the simulator's 150-plant day costs ~1 min of CPU on a busy machine
async def test_a_virtual_day_of_live_data_stays_in_budget_and_the_sync_runs_on_time(
    ledger_target: Path | str,
) -> None:
    start = datetime(2026, 6, 10, 22, 0, tzinfo=UTC)  # midnight in Amsterdam
    clock = VirtualClock(start)
    async with serve_pipeline(
        ledger_target,
        clock,
        fleet=FleetSpec(plants=150, inverters=150),
        window_s=60.0,
        quota_zone="Europe/Amsterdam",
    ) as pipeline:
        sim = pipeline.fusionsolar
        entries = [
            {"remote_inv_id": f"RM-PLANT-{p.index:03d}", "plant_code": p.code, "timezone": "Europe/Amsterdam"}
            for p in sim.fleet.plants
        ]  # fmt: skip
        settings = pipeline.settings(
            entries, fusionsolar={"min_interval_s": 60.0}, live={"interval_min": 15}
        )
        schedule = Schedule.from_settings(settings)
        async with pipeline.runtime(settings, clock) as rt:
            await sync(rt, daily=True)  # the inventory live works from
            queued = await skip_reason(rt, {"sync": None, "push": None}, frozenset({"push"}))
            assert queued == "push waiting to run", "a queued push goes first"
            sync_times: list[datetime] = []
            runs = skipped = 0
            tick = schedule.next_run("live", clock.now())
            end = start + timedelta(days=1)
            while tick is not None and tick < end:
                due_sync = schedule.next_run("sync", clock.now())
                if due_sync is not None and due_sync <= tick:
                    clock.set(due_sync)
                    sync_times.append(clock.now())
                    await sync(rt, daily=True)
                clock.set(max(tick, clock.now()))
                upcoming = {j: schedule.next_run(j, clock.now()) for j in ("sync", "push")}
                if await skip_reason(rt, upcoming, frozenset()) is None:
                    await refresh_live(rt)
                    runs += 1
                    next_sync = upcoming["sync"]
                    assert next_sync is None or clock.now() <= next_sync, "live ran into the sync"
                else:
                    skipped += 1
                after = max(clock.now(), tick + timedelta(seconds=1))
                tick = schedule.next_run("live", after)

        assert sync_times == [datetime(2026, 6, 11, 4, 30, tzinfo=UTC)]  # 06:30 Amsterdam, on time
        assert runs >= 90
        refused = {
            e: sim.calls[e] - sim.served[e]
            for e in sim.calls
            if e != "login" and sim.calls[e] != sim.served[e]
        }
        assert refused == {}, f"refused calls: {refused}; runs {runs}, skipped {skipped}"
        realtime = sorted(sim.times(REALTIME))
        for index, at in enumerate(realtime):
            window = [t for t in realtime[index:] if t - at < timedelta(minutes=5)]
            assert len(window) <= 2, f"more than ceil(150/100) real-time calls in 5 min at {at}"
        per_day = Counter(t.astimezone(ZONE).date() for t in sim.times(HOURLY))
        cap = 2 + 24
        assert all(n <= cap - 1 for n in per_day.values()), per_day
        assert sum(per_day.values()) >= 20, "the hourly curve was read as often as it fits"
        assert len(sim.times(YEARLY)) == 2  # once in the local day, in two batches
        for endpoint in ("getKpiStationMonth", "getKpiStationDay", "stations", "getDevList"):
            assert sim.calls[endpoint] == sim.served[endpoint]
