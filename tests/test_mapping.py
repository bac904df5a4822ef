"""Resolving [[inverters]] entries against a FusionSolar inventory."""

from __future__ import annotations

from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from fusionbridge.core.inverters import (
    InverterEntry,
    Resolution,
    ResolvedInverter,
    Target,
    resolve_inverters,
)
from fusionbridge.core.models import Device, Month, Plant, SourceKind, SourceRef
from fusionbridge.errors import SourceNotFoundError
from fusionbridge.jobs.sources import require_all
from fusionbridge.settings import InverterSettings

PLANTS = [
    Plant("NE=100", "Roof A", Decimal("9.9")),
    Plant("NE=200", "Field B", None),
]
DEVICES = [
    Device(1001, "NE=100", 1, "Inverter-1", esn="ES2210012345"),
    Device(1002, "NE=200", 38, "Inverter-2", esn="HV22404ABCDE"),
    Device(1003, "NE=100", 39, "Battery-1", esn=None),
    Device(1004, "NE=100", 62, "Dongle-1", esn="HV22400DONGL"),
]


def only_resolved(resolution: Resolution) -> tuple[ResolvedInverter, ...]:
    """The resolved inverters of a resolution that must have no problem."""
    assert resolution.problems == ()
    return resolution.inverters


def entry(**fields: Any) -> InverterEntry:
    return InverterSettings.model_validate({"remote_inv_id": "RM-1", **fields}).entry()


@pytest.mark.parametrize(
    ("fields", "source", "capacity", "device_id", "plant_code"),
    [
        (
            {"esn": "ES2210012345"},
            SourceRef(SourceKind.DEVICE, "1001", "product_power"),
            Decimal("9.9"),
            1001,
            "NE=100",
        ),
        (
            {"esn": " es2210012345 "},
            SourceRef(SourceKind.DEVICE, "1001", "product_power"),
            Decimal("9.9"),
            1001,
            "NE=100",
        ),
        (
            {"device_id": 1002},
            SourceRef(SourceKind.DEVICE, "1002", "product_power"),
            None,
            1002,
            "NE=200",
        ),
        (
            {"plant_code": "NE=100"},
            SourceRef(SourceKind.PLANT, "NE=100", "inverter_power"),
            Decimal("9.9"),
            None,
            "NE=100",
        ),
        (
            {"plant_code": "NE=200", "metric": "PVYield"},
            SourceRef(SourceKind.PLANT, "NE=200", "PVYield"),
            None,
            None,
            "NE=200",
        ),
    ],
)
def test_entry_resolves_to_its_source(
    fields: dict[str, Any],
    source: SourceRef,
    capacity: Decimal | None,
    device_id: int | None,
    plant_code: str,
) -> None:
    [resolved] = only_resolved(
        resolve_inverters([entry(**fields)], PLANTS, DEVICES, "Europe/Amsterdam")
    )
    assert resolved.source == source
    assert resolved.capacity_kwp == capacity
    assert (resolved.device.id if resolved.device else None) == device_id
    assert resolved.plant is not None
    assert resolved.plant.code == plant_code
    assert resolved.location == "inverters.0 (remote_inv_id RM-1)"


def test_zone_and_start_month_carry_over() -> None:
    entries = [
        entry(esn="ES2210012345", timezone="Asia/Ho_Chi_Minh", start_month="2024-01"),
        InverterSettings(remote_inv_id="RM-2", device_id=1002).entry(),
    ]
    first, second = only_resolved(resolve_inverters(entries, PLANTS, DEVICES, "Europe/Amsterdam"))
    assert first.target == Target("RM-1", ZoneInfo("Asia/Ho_Chi_Minh"), Month(2024, 1))
    assert second.target == Target("RM-2", ZoneInfo("Europe/Amsterdam"), None)
    assert (second.remote_inv_id, second.zone) == ("RM-2", ZoneInfo("Europe/Amsterdam"))


def test_every_problem_is_reported_with_its_entry() -> None:
    entries = [
        InverterSettings(remote_inv_id="OK-0", esn="ES2210012345").entry(),
        InverterSettings(remote_inv_id="X-1", esn="ES123").entry(),
        InverterSettings(remote_inv_id="X-2", device_id=999).entry(),
        InverterSettings(remote_inv_id="X-3", plant_code="NE=404").entry(),
        InverterSettings(remote_inv_id="X-4", device_id=1003).entry(),
        InverterSettings(remote_inv_id="X-5", esn="HV22400DONGL").entry(),
        InverterSettings(remote_inv_id="X-6", device_id=1001).entry(),
        InverterSettings(remote_inv_id="OK-7", plant_code="NE=100").entry(),
    ]
    resolution = resolve_inverters(entries, PLANTS, DEVICES, "UTC")
    assert [r.remote_inv_id for r in resolution.inverters] == ["OK-0", "OK-7"]
    assert resolution.problems == (
        "inverters.1 (remote_inv_id X-1): esn ES123 is not in FusionSolar's device list",
        "inverters.2 (remote_inv_id X-2): device_id 999 is not in FusionSolar's device list",
        "inverters.3 (remote_inv_id X-3): plant_code NE=404 is not in FusionSolar's plant list",
        "inverters.4 (remote_inv_id X-4): device_id 1003 is device 1003 of devTypeId 39, "
        "not an inverter (devTypeId 1 or 38)",
        "inverters.5 (remote_inv_id X-5): esn HV22400DONGL is device 1004 of devTypeId 62, "
        "not an inverter (devTypeId 1 or 38)",
        "inverters.6 (remote_inv_id X-6): device_id 1001 is the same source as "
        "inverters.0 (remote_inv_id OK-0); one generation figure would be certified twice",
    )
    with pytest.raises(SourceNotFoundError, match=r"X-1.*X-2.*X-3.*X-4.*X-5.*X-6"):
        require_all(resolution)


def test_empty_inventory_fails_every_entry_and_empty_config_is_fine() -> None:
    entries = [
        entry(esn="ES2210012345"),
        InverterSettings(remote_inv_id="RM-2", plant_code="NE=1").entry(),
    ]
    assert len(resolve_inverters(entries, [], [], "UTC").problems) == 2
    assert only_resolved(resolve_inverters([], PLANTS, DEVICES, "UTC")) == ()


def test_device_on_an_unlisted_plant_has_no_capacity() -> None:
    devices = [Device(7, "NE=999", 1, "orphan", esn="ES7")]
    [resolved] = only_resolved(resolve_inverters([entry(esn="ES7")], PLANTS, devices, "UTC"))
    assert (resolved.capacity_kwp, resolved.plant) == (None, None)
    assert resolved.source == SourceRef(SourceKind.DEVICE, "7", "product_power")
