"""Both simulators on loopback, a ledger, and settings that point at them: the sync/push rig.

Shared by the end-to-end, idempotence, crash and command tests. The FusionSolar fleet is small
(12 plants, 2 inverters each) but has every shape the use case meets: inverter types 1 and 38,
plants in zones east (Asia/Tokyo) and west (America/Sao_Paulo) of UTC.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from aiohttp import web

from fusionbridge.app import Runtime, Tuning, open_runtime
from fusionbridge.clock import Clock
from fusionbridge.core.models import Month, month_range, round_kwh
from fusionbridge.retry import RetryPolicy
from fusionbridge.serving import serve_on_loopback
from fusionbridge.settings import Settings
from fusionbridge.simulator.fleet import FleetSpec, SimDevice, SimPlant
from fusionbridge.simulator.fusionsolar import FusionSolarSimulator, SimulatorConfig
from fusionbridge.simulator.redex import API_KEY, CLIENT_ID, CLIENT_SECRET, RedexSimulator

USER, SYSTEM_CODE = "api-user", "sim-system-code"
SECRETS = (SYSTEM_CODE, CLIENT_SECRET, API_KEY)
"""Every secret the rig configures: none may show in any output."""

SMALL_FLEET = FleetSpec(plants=12, inverters=24)
TUNING = Tuning(
    fusionsolar_retry=RetryPolicy(
        attempts=2, wait_initial_s=0.001, wait_max_s=0.002, timeout_s=5.0
    ),
    redex_retry=RetryPolicy(
        attempts=2, timeout_s=5.0, wait_initial_s=0.001, wait_max_s=0.002, wait_jitter_s=0.0
    ),
    redex_poll_interval_s=0.5,
)
Inverter = Mapping[str, Any]
"""One `[[inverters]]` entry as TOML would give it."""


def _plant(sim: FusionSolarSimulator, zone: str, type_id: int) -> SimPlant:
    for plant in sim.fleet.plants:
        inverters = sim.fleet.inverters(plant.code)
        if plant.zone.key == zone and inverters and inverters[0].type_id == type_id:
            return plant
    raise LookupError(f"the fleet has no plant in {zone} with inverters of type {type_id}")


@dataclass
class Pipeline:
    """A running FusionSolar and REDEX simulator pair and where the ledger lives."""

    fusionsolar: FusionSolarSimulator
    redex: RedexSimulator
    fusionsolar_url: str
    redex_url: str
    ledger: Path | str
    """A SQLite file, or a PostgreSQL URL (configured as `storage.url`)."""

    # --- the fleet as configuration -----------------------------------------------------------

    def device(self, zone: str, type_id: int, index: int = 0) -> SimDevice:
        return self.fusionsolar.fleet.inverters(_plant(self.fusionsolar, zone, type_id).code)[index]

    def plant(self, zone: str, type_id: int) -> SimPlant:
        return _plant(self.fusionsolar, zone, type_id)

    def mixed_inverters(self, start_month: Month | None = None) -> list[dict[str, Any]]:
        """Devices by esn and by device_id, types 1 and 38, Tokyo and São Paulo, and plants."""
        tokyo, sao_paulo = "Asia/Tokyo", "America/Sao_Paulo"
        entries: list[dict[str, Any]] = [
            {"remote_inv_id": "RM-TOKYO-T1-BY-ID", "device_id": self.device(tokyo, 1).id},
            {"remote_inv_id": "RM-TOKYO-T38-BY-ESN", "esn": self.device(tokyo, 38).esn},
            {"remote_inv_id": "RM-SAOPAULO-T1-BY-ESN", "esn": self.device(sao_paulo, 1).esn},
            {"remote_inv_id": "RM-SAOPAULO-T38-BY-ID", "device_id": self.device(sao_paulo, 38).id},
            {"remote_inv_id": "RM-TOKYO-PLANT", "plant_code": self.plant(tokyo, 38).code},
            {
                "remote_inv_id": "RM-SAOPAULO-PLANT-ONGRID",
                "plant_code": self.plant(sao_paulo, 1).code,
                "metric": "ongrid_power",
            },
        ]
        for entry in entries:
            entry["timezone"] = self.zone_of(entry)
        if start_month is not None:
            entries[2]["start_month"] = str(start_month)
        return entries

    def _sim_source(self, entry: Inverter) -> int | str:
        if "plant_code" in entry:
            return str(entry["plant_code"])
        if "device_id" in entry:
            return int(entry["device_id"])
        found = [d for d in self.fusionsolar.fleet.devices if d.esn == entry["esn"]]
        return found[0].id

    def zone_of(self, entry: Inverter) -> str:
        source = self._sim_source(entry)
        if isinstance(source, str):
            plant = self.fusionsolar.fleet.plant(source)
            assert plant is not None
            return plant.zone.key
        device = self.fusionsolar.fleet.device(source)
        assert device is not None
        return self.fusionsolar.fleet.zone_of(device).key

    def device_id(self, entry: Inverter) -> int:
        source = self._sim_source(entry)
        assert isinstance(source, int), "a plant entry has no device id"
        return source

    def type_id(self, entry: Inverter) -> int | None:
        """The devTypeId of a device entry; None for a plant entry."""
        if "plant_code" in entry:
            return None
        device = self.fusionsolar.fleet.device(self.device_id(entry))
        assert device is not None
        return device.type_id

    # --- truth --------------------------------------------------------------------------------

    def truth(self, entry: Inverter, first: Month, last: Month) -> dict[tuple[int, int], Decimal]:
        """What REDEX must hold for `entry` over the months: the simulator's values, rounded."""
        source = self._sim_source(entry)
        expected = {}
        for month in month_range(first, last):
            value = self.fusionsolar.expected_month_kwh(source, month, entry.get("metric"))
            if value is not None:
                expected[(month.year, month.month)] = round_kwh(value)
        return expected

    def held(self, remote_inv_id: str) -> dict[tuple[int, int], Decimal]:
        """What the REDEX simulator holds for one remote inverter, by (year, month)."""
        return {
            (year, month): kwh
            for (inv, year, month), kwh in self.redex.accepted.items()
            if inv == remote_inv_id
        }

    def monthly_bodies(self) -> list[list[dict[str, Any]]]:
        """The body of every monthly-data request REDEX answered, in arrival order."""
        return [
            r.body
            for r in self.redex.requests
            if r.endpoint == "monthly_data" and isinstance(r.body, list)
        ]

    def items_sent(self) -> list[tuple[str, int]]:
        """(RemoteInvId, Year) of every item REDEX took (201), once per time it was taken."""
        return [
            (item["RemoteInvId"], item["Data"]["Year"])
            for r in self.redex.requests
            if r.endpoint == "monthly_data" and r.status == 201 and isinstance(r.body, list)
            for item in r.body
        ]

    # --- configuration ------------------------------------------------------------------------

    def config(
        self, inverters: Sequence[Inverter], **sections: Mapping[str, Any]
    ) -> dict[str, Any]:
        """The whole configuration as the TOML file would hold it."""
        values: dict[str, Any] = {
            "timezone": "Europe/Amsterdam",
            "fusionsolar": {
                "base_url": self.fusionsolar_url,
                "username": USER,
                "system_code": SYSTEM_CODE,
                "min_interval_s": 0.001,
                "timeout_s": 10,
            },
            "redex": {
                "base_url": self.redex_url,
                "client_id": CLIENT_ID,
                "client_secret": CLIENT_SECRET,
                "api_key": API_KEY,
                "rate_limit": self.redex.rate_limit,
                "rate_period_s": self.redex.rate_period_s,
                "timeout_s": 10,
            },
            "storage": (
                {"path": str(self.ledger)}
                if isinstance(self.ledger, Path)
                else {"url": self.ledger}
            ),
            "log": {"format": "json", "level": "INFO"},
            "inverters": [dict(e) for e in inverters],
        }
        for name, section in sections.items():
            values[name] = {**values.get(name, {}), **section}
        return values

    def settings(self, inverters: Sequence[Inverter], **sections: Mapping[str, Any]) -> Settings:
        return Settings(**self.config(inverters, **sections))

    def write_toml(
        self, path: Path, inverters: Sequence[Inverter], **sections: Mapping[str, Any]
    ) -> Path:
        path.write_text(to_toml(self.config(inverters, **sections)))
        return path

    def runtime(self, settings: Settings, clock: Clock) -> AbstractAsyncContextManager[Runtime]:
        return open_runtime(settings, clock=clock, tuning=TUNING)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return (
            "{" + ", ".join(f"{json.dumps(k)} = {_toml_value(v)}" for k, v in value.items()) + "}"
        )
    if isinstance(value, int | float):
        return repr(value)
    return json.dumps(str(value))


def to_toml(values: Mapping[str, Any]) -> str:
    """Just enough TOML for the rig's configuration: scalars, tables, one array of tables."""
    lines = [f"{k} = {_toml_value(v)}" for k, v in values.items() if not isinstance(v, dict | list)]
    for name, table in values.items():
        if isinstance(table, dict):
            lines += ["", f"[{name}]", *(f"{k} = {_toml_value(v)}" for k, v in table.items())]
    for entry in values.get("inverters", []):
        lines += ["", "[[inverters]]", *(f"{k} = {_toml_value(v)}" for k, v in entry.items())]
    return "\n".join(lines) + "\n"


async def _serve(app: web.Application) -> tuple[web.AppRunner, str]:
    # A short shutdown: a deliberately slow answer must not hold the test's teardown.
    return await serve_on_loopback(app, shutdown_timeout=0.2)


@asynccontextmanager
async def serve_pipeline(
    ledger: Path | str,
    clock: Clock,
    *,
    fleet: FleetSpec = SMALL_FLEET,
    window_s: float = 0.0,
    rate_limit: int = 5,
    rate_period_s: float = 5.0,
    processing_polls: int = 1,
    register: Iterable[str] = (),
    **fusionsolar_config: Any,
) -> AsyncIterator[Pipeline]:
    """Serve both simulators on 127.0.0.1 with one clock; yield the rig around them."""
    fusionsolar = FusionSolarSimulator(
        SimulatorConfig(
            username=USER,
            system_code=SYSTEM_CODE,
            fleet=fleet,
            clock=clock,
            window_s=window_s,
            **fusionsolar_config,
        )
    )
    redex = RedexSimulator(
        clock=clock,
        rate_limit=rate_limit,
        rate_period_s=rate_period_s,
        seed=7,
        processing_polls=processing_polls,
    )
    redex.register(*register)
    fs_runner, fs_url = await _serve(fusionsolar.app)
    try:
        rx_runner, rx_url = await _serve(redex.app)
        try:
            yield Pipeline(fusionsolar, redex, fs_url, rx_url, ledger)
        finally:
            await rx_runner.cleanup()
    finally:
        await fs_runner.cleanup()
