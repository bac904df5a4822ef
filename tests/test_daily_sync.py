"""Sync for daily inverters: day values for the whole range in shared calls, the counter read once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from fusionbridge.clock import VirtualClock
from fusionbridge.core.models import Device, Month
from fusionbridge.jobs.push import push
from fusionbridge.jobs.sources import resolve
from fusionbridge.jobs.sync import sync
from fusionbridge.simulator.fleet import kwh
from fusionbridge.simulator.redex import Fault
from tests.daily_harness import EAST, WEST, daily_inverters
from tests.pipeline_harness import serve_pipeline

NOW = datetime(2027, 1, 5, 10, 0, tzinfo=UTC)


async def test_the_simulator_counters_add_up_its_days(ledger_target: Path | str) -> None:
    clock = VirtualClock(NOW)
    async with serve_pipeline(ledger_target, clock) as pipeline:
        fleet = pipeline.fusionsolar.fleet
        device = pipeline.device(WEST, 38)
        plant = pipeline.plant("Asia/Tokyo", 38)
        async with pipeline.runtime(pipeline.settings([]), clock) as rt:
            listed = Device(device.id, device.plant_code, device.type_id)
            [device_row] = await rt.fusionsolar.device_real_kpi([listed])
            [plant_row] = await rt.fusionsolar.plant_real_kpi([plant.code])
        today = NOW.astimezone(fleet.zone_of(device)).date()
        assert device_row.values["total_cap"] == kwh(fleet.lifetime_milli(device.id, today))
        day = today - timedelta(days=1)
        value = pipeline.fusionsolar.expected_day_kwh(device.id, day) or Decimal(0)
        assert (
            kwh(fleet.lifetime_milli(device.id, day))
            - kwh(fleet.lifetime_milli(device.id, day - timedelta(days=1)))
            == value
        )
        plant_today = NOW.astimezone(plant.zone).date()
        assert plant_row.values["total_power"] == kwh(fleet.lifetime_milli(plant.code, plant_today))


async def test_daily_and_monthly_inverters_of_a_type_share_day_calls(
    ledger_target: Path | str,
) -> None:
    clock = VirtualClock(NOW)
    async with serve_pipeline(ledger_target, clock) as pipeline:
        daily = daily_inverters(pipeline)[:1]  # Amsterdam, type 1
        monthly: dict[str, Any] = {
            "remote_inv_id": "RM-MONTHLY-T1",
            "device_id": pipeline.device(EAST, 1, 1).id,
            "timezone": EAST,
        }
        pipeline.redex.register(daily[0]["remote_inv_id"], frequency="Daily")
        pipeline.redex.register(monthly["remote_inv_id"])
        async with pipeline.runtime(pipeline.settings([*daily, monthly]), clock) as rt:
            await sync(rt, first=Month(2026, 9))
            days = await rt.ledger.days.day_values(
                {inv.source for inv in (await resolve(rt)).inverters}
            )
            calls = dict(pipeline.fusionsolar.calls)
            await sync(rt, first=Month(2026, 9))
            again = dict(pipeline.fusionsolar.calls)
        # five months of day values, one call each for both inverters; the counter read once
        assert calls["getDevKpiDay"] == 5
        assert calls["getDevRealKpi"] == 1
        assert again["getDevRealKpi"] == 1
        by_kind = sorted(len(d) for d in days.values())
        assert by_kind[0] < 40 < by_kind[1]  # monthly: current and previous month; daily: all five
        async with pipeline.runtime(pipeline.settings([*daily, monthly]), clock) as rt:
            [baseline] = (await rt.ledger.days.baselines()).values()
        assert baseline.counter_key == "total_cap"
        assert '"total_cap"' in baseline.raw
        assert baseline.opening_kwh == baseline.counter_kwh - baseline.known_kwh


async def test_a_400_rejects_the_days_and_the_next_push_tries_again(
    ledger_target: Path | str,
) -> None:
    clock = VirtualClock(NOW)
    async with serve_pipeline(ledger_target, clock) as pipeline:
        entries = daily_inverters(pipeline)
        pipeline.redex.register(*(e["remote_inv_id"] for e in entries), frequency="Daily")
        async with pipeline.runtime(pipeline.settings(entries), clock) as rt:
            await sync(rt, first=Month(2026, 12))
            body = '{"Data": null, "Errors": null, "StatusCode": 400, "Message": "bad request"}'
            pipeline.redex.inject("batches", Fault(status=400, body=body))
            refused = await push(rt, wait_s=5)
            records = await rt.ledger.days.day_submissions()
            assert {(d.state, d.last_error) for d in records} == {("rejected", "bad request")}
            assert refused.standing_problems == len(records)
            retried = await push(rt, wait_s=30)
            assert retried.standing_problems == 0
            assert {d.state for d in await rt.ledger.days.day_submissions()} == {"accepted"}
