"""Resolve `[[inverters]]` entries against the FusionSolar inventory, reporting every problem at once."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from zoneinfo import ZoneInfo

from fusionbridge.core.models import DEVICE_METRIC, Device, Month, Plant, SourceKind, SourceRef
from fusionbridge.errors import SourceNotFoundError


@dataclass(frozen=True, slots=True)
class InverterEntry:
    """One configured REDEX remote inverter and where its generation comes from in FusionSolar."""

    remote_inv_id: str
    esn: str | None = None
    device_id: int | None = None
    plant_code: str | None = None
    metric: str | None = None
    timezone: str | None = None
    start_month: Month | None = None
    frequency: str = "monthly"  # how REDEX registered it: "monthly" or "daily" (SPEC §11)

    def plant_source(self) -> SourceRef | None:
        """The plant source, which needs no inventory lookup; None for device entries."""
        if self.plant_code is None:
            return None
        return SourceRef(SourceKind.PLANT, self.plant_code, self.metric or "inverter_power")

    def device_source(self, device_id: int) -> SourceRef:
        return SourceRef(SourceKind.DEVICE, str(device_id), DEVICE_METRIC)

    def zone(self, default: str) -> ZoneInfo:
        return ZoneInfo(self.timezone or default)

    def describe(self) -> str:
        """How the entry names its source, for messages."""
        if self.esn:
            return f"esn {self.esn}"
        if self.device_id is not None:
            return f"device_id {self.device_id}"
        return f"plant_code {self.plant_code}"


@dataclass(frozen=True, slots=True)
class Target:
    """A REDEX remote inverter as the planner sees it: who, in which zone, from which month."""

    remote_inv_id: str
    zone: ZoneInfo
    start_month: Month | None = None
    daily: bool = False

    @classmethod
    def from_entry(cls, entry: InverterEntry, default_zone: str) -> Target:
        daily = entry.frequency == "daily"
        return cls(entry.remote_inv_id, entry.zone(default_zone), entry.start_month, daily)


@dataclass(frozen=True, slots=True)
class ResolvedInverter:
    """A configured inverter joined to the FusionSolar object its kWh come from.

    `capacity_kwp` is the plant's capacity for both kinds of source: FusionSolar lists no
    per-inverter capacity, and an inverter cannot out-produce the plant it belongs to.
    """

    target: Target
    source: SourceRef
    location: str
    capacity_kwp: Decimal | None = None
    device: Device | None = None
    plant: Plant | None = None

    @property
    def remote_inv_id(self) -> str:
        return self.target.remote_inv_id

    @property
    def zone(self) -> ZoneInfo:
        return self.target.zone


@dataclass(frozen=True, slots=True)
class Resolution:
    """Every entry that resolved, and one `location: message` line per entry that did not."""

    inverters: tuple[ResolvedInverter, ...]
    problems: tuple[str, ...]


def entry_location(index: int, entry: InverterEntry) -> str:
    """Where an entry sits in the config, in the dotted form config errors use."""
    return f"inverters.{index} (remote_inv_id {entry.remote_inv_id})"


class _Inventory:
    """The plant and device lists, indexed the ways `[[inverters]]` entries name things."""

    def __init__(self, plants: Sequence[Plant], devices: Sequence[Device]) -> None:
        self.plants = {plant.code: plant for plant in plants}
        self.devices_by_id = {device.id: device for device in devices}
        self.devices_by_esn: dict[str, Device] = {}
        for device in devices:
            if device.esn:
                key = device.esn.strip().upper()
                if key not in self.devices_by_esn or device.is_inverter:
                    self.devices_by_esn[key] = device

    def find_device(self, entry: InverterEntry) -> Device | None:
        if entry.esn:
            return self.devices_by_esn.get(entry.esn.strip().upper())
        if entry.device_id is not None:
            return self.devices_by_id.get(entry.device_id)
        return None

    def resolve(self, entry: InverterEntry, target: Target, location: str) -> ResolvedInverter:
        """One entry's source, or SourceNotFoundError with a `location: message` text."""
        plant_source = entry.plant_source()
        if plant_source is not None:
            plant = self.plants.get(plant_source.id)
            if plant is None:
                raise SourceNotFoundError(
                    f"{location}: {entry.describe()} is not in FusionSolar's plant list"
                )
            return ResolvedInverter(target, plant_source, location, plant.capacity_kwp, None, plant)
        device = self.find_device(entry)
        if device is None:
            raise SourceNotFoundError(
                f"{location}: {entry.describe()} is not in FusionSolar's device list"
            )
        if not device.is_inverter:
            raise SourceNotFoundError(
                f"{location}: {entry.describe()} is device {device.id} of devTypeId "
                f"{device.type_id}, not an inverter (devTypeId 1 or 38)"
            )
        plant = self.plants.get(device.plant_code)
        capacity = plant.capacity_kwp if plant else None
        source = entry.device_source(device.id)
        return ResolvedInverter(target, source, location, capacity, device, plant)


def resolve_inverters(
    entries: Sequence[InverterEntry],
    plants: Sequence[Plant],
    devices: Sequence[Device],
    default_zone: str,
) -> Resolution:
    """Match each entry to a plant or inverter the inventory lists; collect every miss."""
    inventory = _Inventory(plants, devices)
    resolved: list[ResolvedInverter] = []
    problems: list[str] = []
    claimed: dict[SourceRef, str] = {}
    for index, entry in enumerate(entries):
        location = entry_location(index, entry)
        try:
            found = inventory.resolve(entry, Target.from_entry(entry, default_zone), location)
        except SourceNotFoundError as exc:
            problems.append(str(exc))
            continue
        first_claim = claimed.setdefault(found.source, location)
        if first_claim != location:
            problems.append(
                f"{location}: {entry.describe()} is the same source as {first_claim}; "
                "one generation figure would be certified twice"
            )
            continue
        resolved.append(found)
    return Resolution(tuple(resolved), tuple(problems))
