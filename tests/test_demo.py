"""`fusionbridge demo --once`: REDEX receives exactly every closed month, with the simulator's kWh.

SQLite only: the demo makes its own throw-away SQLite ledger and takes no `[storage]` setting.
"""

from __future__ import annotations

import io
import socket
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

from fusionbridge.clock import SystemClock
from fusionbridge.core.models import Month
from fusionbridge.demo.run import (
    BACKFILL_MONTHS,
    DAILY_INVERTER,
    DemoWorld,
    available_port,
    run_demo,
    simulators,
)


def expected_months(world: DemoWorld) -> dict[tuple[str, int, int], Decimal | None]:
    """Every closed month of the backfill, per demo inverter, as the simulator's truth has it."""
    fleet = world.fusionsolar.fleet
    now = SystemClock().now()
    first = Month.containing(now, fleet.plants[0].zone).shift(1 - BACKFILL_MONTHS)
    expected: dict[tuple[str, int, int], Decimal | None] = {}
    devices = {d.esn: d for d in fleet.inverters()} | {d.id: d for d in fleet.inverters()}
    for entry in world.inverters:
        if entry.get("frequency") == "daily":
            continue  # its days go to the batches endpoint
        source: int | str
        if "plant_code" in entry:
            plant = fleet.plant(entry["plant_code"])
            assert plant is not None
            source, zone = plant.code, plant.zone
        else:
            device = devices[entry.get("esn") or entry["device_id"]]
            source, zone = device.id, fleet.zone_of(device)
        month = first
        while month < Month.containing(now, zone):
            kwh = world.fusionsolar.expected_month_kwh(source, month)
            expected[(entry["remote_inv_id"], month.year, month.month)] = kwh
            month = month.next()
    return expected


def daily_months(expected: dict[tuple[str, int, int], Decimal | None]) -> int:
    """Closed months of the Daily inverter: those of the monthly one in its zone (Tokyo)."""
    return sum(1 for key in expected if key[0] == "DEMO-CHIBA-1")


async def test_demo_once_pushes_every_closed_month_and_exits_0(tmp_path: Path) -> None:
    out = io.StringIO()
    async with simulators() as world:
        status = await run_demo(world, once=True, port=0, ledger_dir=tmp_path, out=out)
        expected = expected_months(world)
        accepted = dict(world.redex.accepted)
    assert status == 0
    assert len(expected) >= 4 * (BACKFILL_MONTHS - 2)  # four inverters, ~11 closed months each
    assert accepted == expected
    days = {day for inv, day in world.redex.accepted_days if inv == DAILY_INVERTER}
    assert len(days) > 250  # the daily inverter's ended days with a value, within 365 days
    text = out.getvalue()
    total = len(expected) + daily_months(expected)
    assert f"REDEX accepted {total} of {total} closed months" in text
    assert "/status" in text
    assert "sim-system-code" not in text


async def test_demo_once_exits_1_when_redex_refuses_an_inverter(tmp_path: Path) -> None:
    out = io.StringIO()
    async with simulators() as world:
        world.redex.register("DEMO-UTRECHT", frequency="Daily")  # 422 for this one
        status = await run_demo(world, once=True, port=0, ledger_dir=tmp_path, out=out)
        expected = expected_months(world)
        accepted = dict(world.redex.accepted)
    assert status == 1
    others = {key: kwh for key, kwh in expected.items() if key[0] != "DEMO-UTRECHT"}
    assert accepted == others  # the refused inverter does not hold back the rest
    text = out.getvalue()
    daily = daily_months(expected)
    assert f"REDEX accepted {len(others) + daily} of {len(expected) + daily} closed months" in text
    assert "DEMO-UTRECHT: must send {Daily} generation data" in text


def test_a_taken_port_falls_back_to_one_the_system_picks() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert available_port(port) == 0
    assert available_port(0) == 0


def test_demo_command_runs_as_written(tmp_path: Path) -> None:
    """The README's first command, as a user types it (no config, no network)."""
    done = subprocess.run(
        [sys.executable, "-m", "fusionbridge", "demo", "--once", "--port", "0"],
        capture_output=True,
        text=True,
        timeout=50,
        cwd=tmp_path,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "closed months" in done.stdout
    assert done.stderr == ""  # errors only, and there were none


async def test_demo_oauth_runs_on_bearer_tokens_without_a_login(tmp_path: Path) -> None:
    out = io.StringIO()
    async with simulators() as world:
        status = await run_demo(world, once=True, port=0, ledger_dir=tmp_path, out=out, oauth=True)
        expected = expected_months(world)
        accepted = dict(world.redex.accepted)
        oauth = world.fusionsolar.oauth
    assert status == 0
    assert accepted == expected
    assert world.fusionsolar.count("login") == 0
    assert oauth.count("authorization_code") == 1
    assert world.fusionsolar.count("getDevList") >= 1  # data really flowed on bearer tokens
    text = out.getvalue()
    assert "OAuth Connect: FusionSolar authorization stored" in text
    for secret in [*oauth.issued, oauth.config.client_secret]:
        assert secret not in text
