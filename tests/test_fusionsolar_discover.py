"""`fusionbridge discover`: the table, the TOML skeleton, and a second run that waits its turn."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import threading
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import stamina
import structlog
from pydantic import SecretStr

from fusionbridge.cli import commands
from fusionbridge.cli import main as cli
from fusionbridge.clock import SystemClock
from fusionbridge.core.models import Device, Plant
from fusionbridge.logs import configure_logging
from fusionbridge.serving import serve_on_loopback
from fusionbridge.settings import (
    FusionSolarSettings,
    InverterSettings,
    RedexSettings,
    Settings,
    StorageSettings,
)
from fusionbridge.simulator.fleet import FleetSpec
from fusionbridge.simulator.fusionsolar import FusionSolarSimulator, SimulatorConfig
from tests.fusionsolar_harness import SECRET, USER

INTERVAL_S = 0.2


@contextmanager
def served_in_thread(sim: FusionSolarSimulator) -> Iterator[str]:
    """Serve the simulator from its own loop in a thread, for commands that run asyncio.run."""
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    urls: list[str] = []

    def serve() -> None:
        asyncio.set_event_loop(loop)
        runner, url = loop.run_until_complete(serve_on_loopback(sim.app))
        urls.append(url)
        ready.set()
        loop.run_forever()
        loop.run_until_complete(runner.cleanup())
        loop.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    assert ready.wait(10)
    try:
        yield urls[0]
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)


@pytest.fixture(autouse=True)
def _logs_to_stderr(capsys: pytest.CaptureFixture[str]) -> Iterator[None]:
    """Log as the CLI does (JSON on stderr) so stdout holds only the command's output."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    configure_logging("json", "INFO", stream=sys.stderr)
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    structlog.reset_defaults()


def _simulator(**config: object) -> FusionSolarSimulator:
    return FusionSolarSimulator(
        SimulatorConfig(
            clock=SystemClock(),
            fleet=FleetSpec(plants=5, inverters=9),
            window_s=INTERVAL_S,
            window_slack_s=INTERVAL_S / 2,  # loopback jitter on a busy machine is not the point
            **config,  # type: ignore[arg-type]
        )
    )


def _storage(ledger: Path | str) -> StorageSettings:
    if isinstance(ledger, Path):
        return StorageSettings(path=ledger)
    return StorageSettings(url=SecretStr(ledger))


def _settings(base_url: str, ledger: Path | str, secret: str = SECRET) -> Settings:
    return Settings(
        timezone="Europe/Amsterdam",
        fusionsolar=FusionSolarSettings(
            base_url=base_url,
            username=USER,
            system_code=SecretStr(secret),
            min_interval_s=INTERVAL_S,
        ),
        redex=RedexSettings(base_url="http://127.0.0.1:9", access_token=SecretStr("unused")),
        storage=_storage(ledger),
    )


def _discover(settings: Settings, *, toml: bool) -> int:
    return cli.run_command(commands.discover, settings, argparse.Namespace(toml=toml))


def test_discover_prints_every_plant_and_device(
    ledger_target: Path | str, capsys: pytest.CaptureFixture[str]
) -> None:
    sim = _simulator()
    with served_in_thread(sim) as url:
        assert _discover(_settings(url, ledger_target), toml=False) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == [
        "PLANT",
        "CODE",
        "PLANT",
        "NAME",
        "CAPACITY",
        "kWp",
        "DEVICE",
        "ID",
        "ESN",
        "TYPE",
        "MODEL",
    ]
    assert len(out) == 1 + len(sim.fleet.devices) + 1
    assert out[-1] == f"5 plants, {len(sim.fleet.devices)} devices, 9 inverters"
    inverter = sim.fleet.inverters()[0]
    row = next(line for line in out if str(inverter.id) in line)
    assert inverter.plant_code in row
    assert str(inverter.esn) in row
    assert "1 string inverter" in row
    assert str(inverter.model) in row


def test_a_second_discover_waits_and_reuses_the_token(
    ledger_target: Path | str, capsys: pytest.CaptureFixture[str]
) -> None:
    sim = _simulator()
    with served_in_thread(sim) as url:
        settings = _settings(url, ledger_target)
        assert _discover(settings, toml=False) == 0
        assert _discover(settings, toml=True) == 0
    stations = sim.times("stations")
    assert len(stations) == 2
    assert (stations[1] - stations[0]).total_seconds() >= INTERVAL_S - 0.05
    assert sim.served["stations"] == 2  # it waited instead of drawing a 407
    assert sim.count("login") == 1


def test_discover_toml_is_a_valid_inverters_skeleton(
    ledger_target: Path | str, capsys: pytest.CaptureFixture[str]
) -> None:
    sim = _simulator()
    with served_in_thread(sim) as url:
        assert _discover(_settings(url, ledger_target), toml=True) == 0
    text = capsys.readouterr().out
    entries = tomllib.loads(text)["inverters"]
    assert len(entries) == 9
    parsed = [InverterSettings(**entry) for entry in entries]
    assert {p.esn for p in parsed} == {d.esn for d in sim.fleet.inverters()}
    assert len({p.remote_inv_id for p in parsed}) == 9
    assert "Campinas" in text  # plant names travel in the comments
    assert '# timezone = "..."  # the plant reports UTC-3' in text


def test_discover_with_a_wrong_password_is_one_clear_error(
    ledger_target: Path | str, capsys: pytest.CaptureFixture[str]
) -> None:
    sim = _simulator()
    with served_in_thread(sim) as url:
        settings = _settings(url, ledger_target, secret="not-the-code")
        assert _discover(settings, toml=False) == cli.EXIT_FAILURE
        assert _discover(settings, toml=False) == cli.EXIT_FAILURE
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("fusionbridge: error:")]
    assert errors[0] == (
        "fusionbridge: error: credentials refused (fusionsolar): FusionSolar refused the login "
        "of user 'api-user': wrong user name or system code"
    )
    assert "not trying the same credentials again" in errors[1]
    assert "not-the-code" not in err
    assert sim.count("login") == 1


def test_discover_against_an_unreachable_host(
    ledger_target: Path | str, capsys: pytest.CaptureFixture[str]
) -> None:
    with stamina.set_testing(True, attempts=2):
        code = _discover(_settings("http://127.0.0.1:9", ledger_target), toml=False)
    assert code == cli.EXIT_FAILURE
    [line] = [x for x in capsys.readouterr().err.splitlines() if x.startswith("fusionbridge:")]
    assert line.startswith(
        "fusionbridge: error: FusionSolar login: cannot reach http://127.0.0.1:9"
    )


def test_table_lists_plants_without_devices_and_orphans() -> None:
    plants = [Plant("NE=1", "Roof", Decimal("9.000")), Plant("NE=2", "Barn", None)]
    devices = [
        Device(11, "NE=1", 38, "Inverter-1", None, "SUN2000-6KTL-L1"),
        Device(12, "NE=9", 62),
    ]
    table = commands.inventory_table(plants, devices).splitlines()
    assert table[1].split() == [
        "NE=1",
        "Roof",
        "9",
        "11",
        "38",
        "residential",
        "inverter",
        "SUN2000-6KTL-L1",
    ]
    assert table[2].split() == ["NE=2", "Barn"]
    assert table[3].split() == ["NE=9", "12", "62", "dongle"]
    assert table[4] == "2 plants, 2 devices, 1 inverters"


def test_toml_uses_device_id_without_serial_and_quotes_names() -> None:
    plants = [Plant("NE=1", 'Roof "A"', grid_connection_date="2024-07-01T10:00:00+01:00")]
    devices = [Device(11, "NE=1", 38, "Inverter-1", None, "SUN2000-6KTL-L1")]
    at = datetime(2025, 1, 2, 3, 4, tzinfo=UTC)
    text = commands.inverters_toml(plants, devices, ZoneInfo("Europe/Amsterdam"), at)
    [entry] = tomllib.loads(text)["inverters"]
    assert entry == {"remote_inv_id": "FILL-IN-REMOTE-INV-ID-001", "device_id": 11}
    assert 'plant NE=1 "Roof \\"A\\""' in text
    assert "timezone" not in text  # +01:00 all year is Amsterdam's standard offset
    empty = commands.inverters_toml(plants, [], ZoneInfo("Europe/Amsterdam"), at)
    assert "no inverter found" in empty
