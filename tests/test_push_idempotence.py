"""Pushing is idempotent: nothing twice, a correction once, a frozen month only when forced."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from fusionbridge.app import Runtime
from fusionbridge.clock import VirtualClock
from fusionbridge.core.models import Month
from fusionbridge.daemon.status import ledger_status, status_document
from fusionbridge.jobs.push import push
from fusionbridge.jobs.sync import sync
from fusionbridge.simulator.fleet import Fleet, Style
from fusionbridge.simulator.fusionsolar import FusionSolarSimulator, SimulatorConfig
from tests.pipeline_harness import SMALL_FLEET, Pipeline, serve_pipeline

FEB_10 = datetime(2026, 2, 10, 12, 0, tzinfo=UTC)
FIRST, LAST = Month(2025, 2), Month(2026, 1)
INSIDE_WINDOW = Month(2025, 12)  # two months before February: still corrected
FROZEN = Month(2025, 6)  # eight months before February: frozen at its accepted value
DELTA_MILLI = 12_345


@dataclass
class Rig:
    pipeline: Pipeline
    rt: Runtime
    inverters: list[dict[str, Any]]

    def entry(self, remote_inv_id: str) -> dict[str, Any]:
        return next(e for e in self.inverters if e["remote_inv_id"] == remote_inv_id)

    def monthly_requests(self) -> int:
        return self.pipeline.redex.count("monthly_data")

    async def status(self) -> dict[str, Any]:
        lines = await ledger_status(self.rt.settings, self.rt.ledger, self.rt.clock.now())
        return status_document(lines)


def valued_day(fleet: Fleet, device_id: int, month: Month) -> date:
    """A day of `month` that has a value to revise."""
    days = fleet.device_days(device_id, month)
    return next(d for d, (style, _) in zip(month.days(), days, strict=True) if style.has_value)


@pytest.fixture
async def rig(ledger_target: Path | str) -> AsyncIterator[Rig]:
    """Twelve months synced, pushed and accepted."""
    clock = VirtualClock(FEB_10)
    async with serve_pipeline(ledger_target, clock) as pipeline:
        inverters = pipeline.mixed_inverters()
        pipeline.redex.register(*(e["remote_inv_id"] for e in inverters))
        async with pipeline.runtime(pipeline.settings(inverters), clock) as rt:
            await sync(rt, first=FIRST, last=LAST)
            first = await push(rt, wait_s=60)
            assert first.sent == 2 * len(inverters)
            assert first.standing_problems == 0
            yield Rig(pipeline, rt, inverters)


async def test_a_second_push_sends_nothing(rig: Rig) -> None:
    before = rig.pipeline.redex.count()
    again = await push(rig.rt, wait_s=60)
    assert again.items == again.sent == 0
    assert rig.pipeline.redex.count() == before, "not even a token or a status poll"
    resynced = await sync(rig.rt, first=FIRST, last=LAST)
    assert resynced.changed == 0
    assert (await push(rig.rt, wait_s=60)).items == 0
    assert rig.pipeline.redex.count() == before


async def test_a_correction_inside_the_window_resends_exactly_its_item(rig: Rig) -> None:
    entry = rig.entry("RM-TOKYO-T1-BY-ID")
    device_id = rig.pipeline.device_id(entry)
    fleet = rig.pipeline.fusionsolar.fleet
    accepted_before = rig.pipeline.held("RM-TOKYO-T1-BY-ID")
    fleet.revise(device_id, valued_day(fleet, device_id, INSIDE_WINDOW), DELTA_MILLI)
    requests_before = rig.monthly_requests()

    synced = await sync(rig.rt, first=INSIDE_WINDOW, last=INSIDE_WINDOW)
    assert synced.changed == 1
    pushed = await push(rig.rt, wait_s=60)

    assert rig.monthly_requests() == requests_before + 1
    [body] = rig.pipeline.monthly_bodies()[-1:]
    assert [(i["RemoteInvId"], i["Data"]["Year"]) for i in body] == [("RM-TOKYO-T1-BY-ID", 2025)]
    held = rig.pipeline.held("RM-TOKYO-T1-BY-ID")
    assert held == rig.pipeline.truth(entry, FIRST, LAST)
    moved = held[(2025, 12)] - accepted_before[(2025, 12)]
    assert moved == Decimal(DELTA_MILLI) / 1000
    assert {k: v for k, v in held.items() if k != (2025, 12)} == {
        k: v for k, v in accepted_before.items() if k != (2025, 12)
    }
    assert pushed.sent == 1
    assert pushed.standing_problems == 0
    assert (await push(rig.rt, wait_s=60)).items == 0


async def test_a_frozen_month_shows_drift_and_goes_out_only_when_forced(rig: Rig) -> None:
    entry = rig.entry("RM-SAOPAULO-T38-BY-ID")
    device_id = rig.pipeline.device_id(entry)
    fleet = rig.pipeline.fusionsolar.fleet
    accepted = rig.pipeline.held("RM-SAOPAULO-T38-BY-ID")[(2025, 6)]
    fleet.revise(device_id, valued_day(fleet, device_id, FROZEN), DELTA_MILLI)
    requests_before = rig.monthly_requests()

    assert (await sync(rig.rt, first=FROZEN, last=FROZEN)).changed == 1
    pushed = await push(rig.rt, wait_s=60)
    assert pushed.items == 0
    assert rig.monthly_requests() == requests_before
    assert [(d.remote_inv_id, d.month, d.difference_kwh) for d in pushed.drift] == [
        ("RM-SAOPAULO-T38-BY-ID", FROZEN, Decimal("12.345"))
    ]
    document = await rig.status()
    drifting = [
        (inv["remote_inv_id"], m["month"], m["drift_kwh"], m["state"])
        for inv in document["inverters"]
        for m in inv["months"]
        if m["drift_kwh"] is not None
    ]
    assert drifting == [("RM-SAOPAULO-T38-BY-ID", "2025-06", "12.345", "accepted")]
    assert rig.pipeline.held("RM-SAOPAULO-T38-BY-ID")[(2025, 6)] == accepted

    unforced = await push(rig.rt, month=FROZEN, wait_s=60)
    assert unforced.items == 0
    assert rig.monthly_requests() == requests_before

    # --force re-sends the named month for every inverter, unchanged ones included (SPEC §4).
    forced = await push(rig.rt, month=FROZEN, force=True, wait_s=60)
    assert forced.sent == len(rig.inverters)
    assert rig.monthly_requests() == requests_before + 1
    [body] = rig.pipeline.monthly_bodies()[-1:]
    assert {i["Data"]["Year"] for i in body} == {2025}
    for other in rig.inverters:
        held = rig.pipeline.held(other["remote_inv_id"])
        assert held == rig.pipeline.truth(other, FIRST, LAST), other["remote_inv_id"]
    assert rig.pipeline.held("RM-SAOPAULO-T38-BY-ID")[(2025, 6)] == accepted + Decimal("12.345")
    after = await rig.status()
    assert all(m["drift_kwh"] is None for inv in after["inverters"] for m in inv["months"])
    assert (await push(rig.rt, wait_s=60)).items == 0


def test_a_revised_day_moves_the_device_month_and_its_plant() -> None:
    """The simulator's correction hook, which the tests above rely on."""
    sim = FusionSolarSimulator(SimulatorConfig(clock=VirtualClock(FEB_10), fleet=SMALL_FLEET))
    device = sim.fleet.inverters()[0]
    day = valued_day(sim.fleet, device.id, FROZEN)
    device_before = sim.expected_month_kwh(device.id, FROZEN)
    plant_before = sim.expected_month_kwh(device.plant_code, FROZEN)
    day_before = sim.expected_day_kwh(device.id, day)
    assert device_before is not None
    assert plant_before is not None
    assert day_before is not None

    sim.fleet.revise(device.id, day, DELTA_MILLI)

    assert sim.expected_month_kwh(device.id, FROZEN) == device_before + Decimal("12.345")
    assert sim.expected_month_kwh(device.plant_code, FROZEN) == plant_before + Decimal("12.345")
    assert sim.expected_day_kwh(device.id, day) == day_before + Decimal("12.345")
    gap = next(
        d
        for d, (style, _) in zip(
            FROZEN.days(), sim.fleet.device_days(device.id, FROZEN), strict=True
        )
        if style is Style.GAP
    )
    with pytest.raises(ValueError, match="no value"):
        sim.fleet.revise(device.id, gap, 1)
