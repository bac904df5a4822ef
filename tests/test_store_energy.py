"""Inventory and energy readings: exact round-trips, change detection, append-only history."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from fusionbridge.clock import VirtualClock
from fusionbridge.core.models import (
    DEVICE_METRIC,
    Device,
    EnergyReading,
    Month,
    Plant,
    SourceKind,
    SourceRef,
)
from fusionbridge.errors import LedgerError
from fusionbridge.store import Inventory, Ledger, ReadingChange

T0 = datetime(2025, 3, 2, 6, 30, tzinfo=UTC)
DEV = SourceRef(SourceKind.DEVICE, "1000000035436846", DEVICE_METRIC)
PLANT = SourceRef(SourceKind.PLANT, "NE=33554875", "inverter_power")
FEB = Month(2024, 2)


@pytest.fixture
async def ledger(ledger_target: Path | str) -> AsyncIterator[Ledger]:
    async with Ledger.open(ledger_target, VirtualClock(T0)) as opened:
        yield opened


def reading(
    source: SourceRef, period: date | Month, kwh: str, at: datetime = T0, raw: str | None = None
) -> EnergyReading:
    key = DEVICE_METRIC if source.kind is SourceKind.DEVICE else source.metric
    return EnergyReading(source, period, Decimal(kwh), raw if raw is not None else kwh, key, at)


async def test_inventory_round_trip_and_atomic_replace(ledger: Ledger) -> None:
    assert await ledger.inventory.load() == Inventory((), (), None)
    plants = [
        Plant("NE=2", "Roof B", Decimal("99.840"), "2021-04-01"),
        Plant("NE=1", "Field A", None, None),
    ]
    devices = [
        Device(1000000035436846, "NE=1", 1, "Inverter-1", "ES2210012345", "SUN2000-100KTL"),
        Device(7, "NE=2", 38, "", None, None),
        Device(8, "NE=2", 47, "meter"),
    ]
    await ledger.inventory.save(plants, devices, T0)
    got = await ledger.inventory.load()
    assert got.plants == (plants[1], plants[0])
    assert got.plants[1].capacity_kwp == Decimal("99.840")
    assert str(got.plants[1].capacity_kwp) == "99.840"
    assert got.devices == (devices[1], devices[2], devices[0])
    assert got.refreshed_at == T0

    later = T0 + timedelta(days=1)
    await ledger.inventory.save([plants[0]], [devices[1]], later)
    assert await ledger.inventory.load() == Inventory((plants[0],), (devices[1],), later)


async def test_readings_round_trip_exactly(ledger: Ledger) -> None:
    fetched = datetime(2024, 3, 1, 0, 0, 0, 1, tzinfo=UTC)
    month = reading(DEV, FEB, "12345.678", fetched, raw="12345.678")
    plant_month = reading(PLANT, FEB, "0.1", fetched, raw="0.10")
    days = [reading(DEV, date(2024, 2, d), f"{d}.005", fetched) for d in (1, 28, 29)]
    neighbours = [reading(DEV, date(2024, 1, 31), "1"), reading(DEV, date(2024, 3, 1), "2")]
    changes = await ledger.energy.save_readings([month, plant_month, *days, *neighbours])
    assert len(changes) == 7
    assert all(c.previous is None for c in changes)

    assert await ledger.energy.monthly() == {(DEV, FEB): month, (PLANT, FEB): plant_month}
    assert await ledger.energy.monthly([PLANT]) == {(PLANT, FEB): plant_month}
    assert await ledger.energy.monthly([]) == {}
    assert await ledger.energy.daily(DEV, FEB) == days
    assert await ledger.energy.daily(PLANT, FEB) == []
    sum_of_days = sum((r.kwh for r in await ledger.energy.daily(DEV, FEB)), Decimal(0))
    assert sum_of_days == Decimal("58.015")


async def test_changes_and_history(ledger: Ledger) -> None:
    first = await ledger.energy.save_readings(
        [reading(DEV, FEB, "100.000"), reading(PLANT, FEB, "5")]
    )
    assert first == [
        ReadingChange(DEV, FEB, None, Decimal("100.000")),
        ReadingChange(PLANT, FEB, None, Decimal("5")),
    ]
    later = T0 + timedelta(days=1)
    # same value, different spelling: not a change, but the latest fetch is remembered
    same = await ledger.energy.save_readings([reading(DEV, FEB, "100", later, raw="100")])
    assert same == []
    stored = (await ledger.energy.monthly([DEV]))[DEV, FEB]
    assert (stored.kwh, stored.raw, stored.fetched_at) == (Decimal("100"), "100", later)

    latest = T0 + timedelta(days=2)
    changed = await ledger.energy.save_readings([reading(DEV, FEB, "100.250", latest)])
    assert changed == [ReadingChange(DEV, FEB, Decimal("100"), Decimal("100.250"))]
    history = await ledger.energy.history(DEV, FEB)
    assert [(r.kwh, r.fetched_at, prev) for r, prev in history] == [
        (Decimal("100.000"), T0, None),
        (Decimal("100.250"), latest, Decimal("100")),
    ]
    assert await ledger.energy.history(PLANT, FEB) == [(reading(PLANT, FEB, "5"), None)]


async def test_last_duplicate_in_a_batch_wins(ledger: Ledger) -> None:
    changes = await ledger.energy.save_readings([reading(DEV, FEB, "1"), reading(DEV, FEB, "2")])
    assert changes == [ReadingChange(DEV, FEB, None, Decimal("2"))]
    assert (await ledger.energy.monthly())[DEV, FEB].kwh == Decimal("2")


async def test_history_is_append_only(ledger: Ledger) -> None:
    await ledger.energy.save_readings([reading(DEV, FEB, "1")])
    with pytest.raises(LedgerError, match="append-only"):
        await _tamper(ledger, "UPDATE energy_history SET kwh = '2'")
    with pytest.raises(LedgerError, match="append-only"):
        await _tamper(ledger, "DELETE FROM energy_history")


async def _tamper(ledger: Ledger, sql: str) -> None:
    async with ledger._db.transaction() as tx:
        await tx.execute(sql)


async def test_floats_and_naive_times_never_reach_the_ledger(ledger: Ledger) -> None:
    bad_kwh = EnergyReading(DEV, FEB, 1.5, "1.5", DEVICE_METRIC, T0)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        await ledger.energy.save_readings([bad_kwh])
    naive = EnergyReading(DEV, FEB, Decimal(1), "1", DEVICE_METRIC, datetime(2024, 3, 1))  # noqa: DTZ001
    with pytest.raises(ValueError, match="aware"):
        await ledger.energy.save_readings([naive])
    assert await ledger.energy.monthly() == {}


async def test_concurrent_writers_do_not_interleave(ledger: Ledger) -> None:
    sources = [SourceRef(SourceKind.DEVICE, str(n), DEVICE_METRIC) for n in range(40)]
    batches = [
        [reading(s, date(2024, 2, d), f"{n}.{d:03d}") for d in range(1, 30)]
        for n, s in enumerate(sources)
    ]
    results = await asyncio.gather(*(ledger.energy.save_readings(b) for b in batches))
    assert [len(r) for r in results] == [29] * 40
    for n, source in enumerate(sources):
        days = await ledger.energy.daily(source, FEB)
        assert [r.kwh for r in days] == [Decimal(f"{n}.{d:03d}") for d in range(1, 30)]
