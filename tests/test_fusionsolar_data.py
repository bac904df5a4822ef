"""Inventory, batching, parsing and time zones: what the client reads matches the simulator's truth."""

from __future__ import annotations

import math
from collections import Counter
from datetime import UTC, date, datetime, time
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from fusionbridge.core.models import Device, KpiRow, Month
from fusionbridge.errors import FusionSolarApiError
from fusionbridge.fusionsolar.client import FusionSolarClient
from fusionbridge.simulator.fleet import FleetSpec, Style
from fusionbridge.simulator.fusionsolar import FusionSolarSimulator
from tests.fusionsolar_harness import Harness, harness, inside_month


def _plant_in(sim: FusionSolarSimulator, zone: str) -> str:
    return next(p.code for p in sim.fleet.plants if p.zone.key == zone)


def _inverter_in(sim: FusionSolarSimulator, zone: str) -> Device:
    code = _plant_in(sim, zone)
    d = sim.fleet.inverters(code)[0]
    return Device(d.id, d.plant_code, d.type_id, d.name, d.esn, d.model)


def _by_date(rows: list[KpiRow], zone: ZoneInfo) -> dict[date, KpiRow]:
    dated = {row.local_date(zone): row for row in rows}
    assert len(dated) == len(rows), "two buckets on one local date"
    return dated


async def _inventory(h: Harness) -> tuple[FusionSolarClient, list[Device]]:
    client = h.client()
    plants = await client.plants()
    return client, await client.devices([p.code for p in plants])


async def test_stations_are_read_page_by_page() -> None:
    async with harness(
        min_interval_s=1, window_s=1, fleet=FleetSpec(plants=250, inverters=250)
    ) as h:
        client = h.client()
        plants = await client.plants()
        assert len({p.code for p in plants}) == 250
        assert [r.body["pageNo"] for r in h.sim.requests if r.endpoint == "stations"] == [1, 2, 3]
        devices = await client.devices([p.code for p in plants])
        assert len(devices) == len(h.sim.fleet.devices)
        assert client.calls["getDevList"] == 3


async def test_station_list_is_the_fallback_when_stations_is_refused() -> None:
    async with harness(stations_allowed=False) as h:
        plants = await h.client().plants()
        expected = {p.code: p.capacity_kwp for p in h.sim.fleet.plants}
        assert {p.code: p.capacity_kwp for p in plants} == expected
        assert h.sim.count("stations") == 1
        assert h.sim.count("getStationList") == 1


async def test_no_plant_list_at_all_is_an_api_error() -> None:
    async with harness(stations_allowed=False, station_list_allowed=False) as h:
        with pytest.raises(FusionSolarApiError) as caught:
            await h.client().plants()
        assert caught.value.fail_code == 401


async def test_device_kpi_uses_the_minimum_number_of_calls() -> None:
    async with harness() as h:
        _, devices = await _inventory(h)
        inverters = [d for d in devices if d.is_inverter]
        per_type = Counter(d.type_id for d in inverters)
        assert len(inverters) == 250
        assert max(per_type.values()) > 100
        assert set(per_type) == {1, 38}
        rows = await h.client().device_kpi(
            "month", inverters, datetime(2025, 6, 15, 12, tzinfo=UTC)
        )
        sent = [r.body for r in h.sim.requests if r.endpoint == "getDevKpiMonth"]
        assert len(sent) == sum(math.ceil(n / 100) for n in per_type.values()) == 4
        for body in sent:
            ids = [int(i) for i in str(body["devIds"]).split(",")]
            assert len(ids) <= 100
            assert {h.sim.fleet.device(i).type_id for i in ids} == {body["devTypeId"]}  # type: ignore[union-attr]
        assert {row.object_id for row in rows} == {str(d.id) for d in inverters}


async def test_plant_kpi_batches_by_one_hundred() -> None:
    async with harness(fleet=FleetSpec(plants=201, inverters=201)) as h:
        codes = [p.code for p in h.sim.fleet.plants]
        await h.client().plant_kpi("month", codes, datetime(2025, 6, 15, 12, tzinfo=UTC))
        sizes = [
            len(str(r.body["stationCodes"]).split(","))
            for r in h.sim.requests
            if r.endpoint == "getKpiStationMonth"
        ]
        assert sizes == [100, 100, 1]


async def test_day_values_as_numbers_strings_null_and_na() -> None:
    async with harness() as h:
        device = _inverter_in(h.sim, "Europe/Amsterdam")
        zone = h.sim.fleet.zone_of(h.sim.fleet.device(device.id))  # type: ignore[arg-type]
        month = Month(2025, 10)
        rows = await h.client().device_kpi("day", [device], inside_month(month, zone))
        days = _by_date(rows, zone)
        assert date(2025, 10, 5) not in days  # a missing bucket stays missing
        assert days[date(2025, 10, 6)].values["product_power"] is None
        assert days[date(2025, 10, 6)].raw["product_power"] is None
        assert days[date(2025, 10, 7)].values["product_power"] is None
        assert days[date(2025, 10, 7)].raw["product_power"] == "N/A"
        string_day = days[date(2025, 10, 8)]
        assert string_day.raw["product_power"] == str(string_day.values["product_power"])
        for day in month.days():
            row = days.get(day)
            value = None if row is None else row.values["product_power"]
            assert value == h.sim.expected_day_kwh(device.id, day)
        numbers = [r for d, r in days.items() if d.day not in (5, 6, 7, 8)]
        assert all(isinstance(r.values["product_power"], Decimal) for r in numbers)


async def test_month_values_are_the_exact_sum_of_the_days() -> None:
    async with harness(min_interval_s=1, window_s=1) as h:
        _, devices = await _inventory(h)
        sample = [d for d in devices if d.is_inverter][:3]
        client = h.client()
        zone = ZoneInfo("Europe/Amsterdam")
        months = await client.device_kpi("month", sample, inside_month(Month(2025, 9), zone))
        for device in sample:
            dev_zone = h.sim.fleet.zone_of(h.sim.fleet.device(device.id))  # type: ignore[arg-type]
            by_month = {
                Month.of(r.local_date(dev_zone)): r for r in months if r.object_id == str(device.id)
            }
            assert set(by_month) == {Month(2025, m) for m in range(1, 12)}
            for month, row in by_month.items():
                assert row.values["product_power"] == h.sim.expected_month_kwh(device.id, month)
            days = await client.device_kpi("day", [device], inside_month(Month(2025, 9), dev_zone))
            total = sum((r.values["product_power"] or Decimal(0) for r in days), start=Decimal(0))
            assert by_month[Month(2025, 9)].values["product_power"] == total
        even = next(r for r in months if r.local_date(zone).month == 2)
        assert even.raw["product_power"] == str(even.values["product_power"])


@pytest.mark.parametrize("zone_name", ["America/Sao_Paulo", "Asia/Tokyo", "Europe/Amsterdam"])
async def test_buckets_map_to_local_dates_in_the_plant_zone(zone_name: str) -> None:
    async with harness() as h:
        code = _plant_in(h.sim, zone_name)
        zone = ZoneInfo(zone_name)
        month = Month(2025, 10)
        rows = await h.client().plant_kpi("day", [code], inside_month(month, zone))
        days = _by_date(rows, zone)
        assert sorted(days) == [d for d in month.days() if d.day != 5]
        for day, row in days.items():
            assert row.bucket_start.astimezone(zone).time() == time(0)
            assert row.values["inverter_power"] == h.sim.expected_day_kwh(code, day)
        first = days[date(2025, 10, 1)].bucket_start
        if zone_name == "Asia/Tokyo":  # local midnight is the previous UTC day
            assert first == datetime(2025, 9, 30, 15, tzinfo=UTC)
        elif zone_name == "America/Sao_Paulo":
            assert first == datetime(2025, 10, 1, 3, tzinfo=UTC)


async def test_utc_midnight_of_the_first_selects_the_previous_month_west_of_utc() -> None:
    async with harness() as h:
        code = _plant_in(h.sim, "America/Sao_Paulo")
        zone = ZoneInfo("America/Sao_Paulo")
        naive_choice = datetime(2025, 10, 1, 0, 0, tzinfo=UTC)
        rows = await h.client().plant_kpi("day", [code], naive_choice)
        assert {Month.of(r.local_date(zone)) for r in rows} == {Month(2025, 9)}


@pytest.mark.parametrize(
    ("month", "change", "before", "after"),
    [
        (
            Month(2025, 3),
            date(2025, 3, 30),
            datetime(2025, 3, 29, 23, tzinfo=UTC),
            datetime(2025, 3, 30, 22, tzinfo=UTC),
        ),
        (
            Month(2025, 10),
            date(2025, 10, 26),
            datetime(2025, 10, 25, 22, tzinfo=UTC),
            datetime(2025, 10, 26, 23, tzinfo=UTC),
        ),
    ],
    ids=["spring-forward", "fall-back"],
)
async def test_dst_changes_keep_one_bucket_per_local_day(
    month: Month, change: date, before: datetime, after: datetime
) -> None:
    async with harness() as h:
        fleet = h.sim.fleet
        next_day = date.fromordinal(change.toordinal() + 1)
        device = next(  # an inverter without an outage of its own around the change
            Device(d.id, d.plant_code, d.type_id)
            for d in fleet.inverters()
            if fleet.zone_of(d).key == "Europe/Amsterdam"
            and fleet.device_day(d.id, change)[0] is not Style.GAP
            and fleet.device_day(d.id, next_day)[0] is not Style.GAP
        )
        zone = ZoneInfo("Europe/Amsterdam")
        rows = await h.client().device_kpi("day", [device], inside_month(month, zone))
        days = _by_date(rows, zone)
        served = [d for d in month.days() if fleet.device_day(device.id, d)[0] is not Style.GAP]
        assert sorted(days) == served
        assert days[change].bucket_start == before
        assert days[next_day].bucket_start == after
        for day, row in days.items():
            assert row.values["product_power"] == h.sim.expected_day_kwh(device.id, day)


async def test_month_buckets_across_the_year_and_dst_map_to_local_months() -> None:
    async with harness() as h:
        client = h.client()
        for zone_name in ("Europe/Amsterdam", "Asia/Tokyo", "America/Sao_Paulo"):
            zone = ZoneInfo(zone_name)
            device = _inverter_in(h.sim, zone_name)
            rows = await client.device_kpi("month", [device], inside_month(Month(2025, 1), zone))
            months = {Month.of(r.local_date(zone)): r for r in rows}
            assert set(months) == {Month(2025, m) for m in range(1, 12)}
            assert all(r.bucket_start.astimezone(zone).day == 1 for r in rows)
            assert all(r.bucket_start.astimezone(zone).hour == 0 for r in rows)
            for month, row in months.items():
                assert row.values["product_power"] == h.sim.expected_month_kwh(device.id, month)


async def test_year_and_hour_buckets() -> None:
    async with harness() as h:
        client = h.client()
        code = _plant_in(h.sim, "Asia/Tokyo")
        zone = ZoneInfo("Asia/Tokyo")
        years = await client.plant_kpi("year", [code], inside_month(Month(2025, 6), zone))
        by_year = {r.local_date(zone): r for r in years}
        assert date(2025, 1, 1) in by_year
        expected = sum(
            (h.sim.expected_month_kwh(code, Month(2025, m)) or Decimal(0) for m in range(1, 13)),
            start=Decimal(0),
        )
        assert by_year[date(2025, 1, 1)].values["inverter_power"] == expected
        day = date(2025, 11, 3)
        hours = await client.plant_kpi("hour", [code], datetime.combine(day, time(12), tzinfo=zone))
        assert {r.local_date(zone) for r in hours} == {day}
        total = sum((r.values["inverter_power"] or Decimal(0) for r in hours), start=Decimal(0))
        assert total == h.sim.expected_day_kwh(code, day)


async def test_only_data_up_to_today_is_served() -> None:
    async with harness() as h:
        code = _plant_in(h.sim, "Asia/Tokyo")
        zone = ZoneInfo("Asia/Tokyo")
        today = h.clock.now().astimezone(zone).date()
        rows = await h.client().plant_kpi("day", [code], inside_month(Month.of(today), zone))
        assert max(r.local_date(zone) for r in rows) == today


async def test_history_older_than_365_days_is_refused() -> None:
    async with harness() as h:
        with pytest.raises(FusionSolarApiError) as caught:
            await h.client().plant_kpi(
                "month", [h.sim.fleet.plants[0].code], datetime(2024, 6, 15, tzinfo=UTC)
            )
        assert caught.value.fail_code == 20026


async def test_real_time_kpis_group_device_types() -> None:
    async with harness(min_interval_s=1, window_s=1) as h:
        client, devices = await _inventory(h)
        one_plant = [d for d in devices if d.plant_code == _plant_in(h.sim, "America/Sao_Paulo")]
        rows = await client.device_real_kpi(one_plant)
        assert client.calls["getDevRealKpi"] == len({d.type_id for d in one_plant})
        by_id = {int(r.object_id): r for r in rows}
        for device in one_plant:
            row = by_id[device.id]
            if device.type_id == 62:
                assert row.values == {}
            if device.is_inverter:
                assert row.values["close_time"] is None
                assert row.raw["close_time"] == "N/A"
        plant_rows = await client.plant_real_kpi([one_plant[0].plant_code])
        assert plant_rows[0].bucket_start == h.clock.now()
        assert plant_rows[0].values["real_health_state"] == Decimal(3)
