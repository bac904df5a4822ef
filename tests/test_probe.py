"""`fusionbridge probe` as a real process against the FusionSolar simulator on loopback.

The simulator refuses a second call to an endpoint within its window (407), exactly like Huawei,
so a second probe right after the first proves the pacing is kept across processes.
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from fusionbridge.clock import SystemClock
from fusionbridge.simulator.fusionsolar import Fault
from tests.pipeline_harness import SECRETS, Pipeline, serve_pipeline

WINDOW_S = 0.4
STEPS = (
    "login",
    "stations",
    "getStationRealKpi",
    "getKpiStationHour",
    "getKpiStationDay",
    "getKpiStationMonth",
    "getKpiStationYear",
    "getDevList",
)


async def probe(config: Path, *args: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "fusionbridge",
        "--config",
        str(config),
        "probe",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    text, errors = out.decode(), err.decode()
    for secret in SECRETS:
        assert secret not in text + errors
    assert "Traceback" not in errors
    return process.returncode or 0, text, errors


def lines_by_step(out: str) -> dict[str, str]:
    found = {}
    for line in out.splitlines():
        match = re.match(r"^([✓✗-]) (\w[\w ]*): (.*)$", line)
        if match:
            found[match[2]] = f"{match[1]} {match[3]}"
    return found


def write_config(pipeline: Pipeline, tmp_path: Path) -> tuple[Path, str]:
    inverters = pipeline.mixed_inverters()
    plant = next(e for e in inverters if e["remote_inv_id"] == "RM-TOKYO-PLANT")
    config = pipeline.write_toml(
        tmp_path / "fusionbridge.toml", inverters, fusionsolar={"min_interval_s": WINDOW_S}
    )
    return config, str(plant["plant_code"])


def no_refusals(pipeline: Pipeline) -> None:
    sim = pipeline.fusionsolar
    for endpoint in STEPS[1:]:
        assert sim.calls[endpoint] == sim.served[endpoint], f"{endpoint} was refused (407?)"


async def test_probe_twice_in_a_row_is_paced_and_reports_every_interface(
    tmp_path: Path, ledger_target: Path | str
) -> None:
    async with serve_pipeline(ledger_target, SystemClock(), window_s=WINDOW_S) as pipeline:
        config, plant = write_config(pipeline, tmp_path)

        code, out, err = await probe(config, "--plant", plant)

        assert code == 0, out + err
        steps = lines_by_step(out)
        assert list(steps) == list(STEPS)
        assert all(line.startswith("✓") for line in steps.values()), out
        assert steps["login"] == "✓ logged in"
        assert f"testing {plant}" in steps["stations"]
        zone = pipeline.fusionsolar.fleet.plant(plant)
        assert zone is not None
        yesterday = (datetime.now(UTC).astimezone(zone.zone) - timedelta(days=1)).date()
        hour = re.match(
            r"✓ (\d+) hourly values for (\S+), ([\d,.]+) kWh", steps["getKpiStationHour"]
        )
        assert hour is not None, steps["getKpiStationHour"]
        expected = pipeline.fusionsolar.expected_day_kwh(plant, yesterday, "inverter_power")
        assert hour[2] == yesterday.isoformat()
        assert Decimal(hour[3].replace(",", "")) == expected
        assert int(hour[1]) > 0
        assert "inverters" in steps["getDevList"]
        assert "every step succeeded" in out
        for endpoint in STEPS[1:]:
            assert pipeline.fusionsolar.calls[endpoint] == 1

        again, out2, err2 = await probe(config, "--plant", plant)

        assert again == 0, out2 + err2
        assert lines_by_step(out2)["login"] == "✓ the stored session token is still valid"
        assert len(pipeline.fusionsolar.logins) == 1
        for endpoint in STEPS[1:]:
            assert pipeline.fusionsolar.calls[endpoint] == 2
        no_refusals(pipeline)


async def test_probe_names_the_failing_step_and_its_fail_code(
    tmp_path: Path, ledger_target: Path | str
) -> None:
    async with serve_pipeline(ledger_target, SystemClock(), window_s=WINDOW_S) as pipeline:
        config, plant = write_config(pipeline, tmp_path)
        pipeline.fusionsolar.inject(Fault("fail", endpoint="getKpiStationYear", fail_code=401))

        code, out, _ = await probe(config, "--plant", plant)

        assert code == 1
        steps = lines_by_step(out)
        assert steps["getKpiStationYear"] == (
            "✗ failCode 401: this API account may not use the interface: ask the installer to grant it"
        )
        others = [line for name, line in steps.items() if name != "getKpiStationYear"]
        assert all(line.startswith("✓") for line in others), out
        assert "some steps failed" in out


async def test_probe_json_carries_each_steps_raw_data(
    tmp_path: Path, ledger_target: Path | str
) -> None:
    async with serve_pipeline(ledger_target, SystemClock(), window_s=WINDOW_S) as pipeline:
        config, plant = write_config(pipeline, tmp_path)

        code, out, _ = await probe(config, "--plant", plant, "--json")

        assert code == 0
        document: dict[str, Any] = json.loads(out)
        assert document["ok"] is True
        assert document["plant"] == plant
        by_step = {s["step"]: s for s in document["steps"]}
        assert list(by_step) == list(STEPS)
        real = by_step["getStationRealKpi"]["data"]
        assert real[0]["stationCode"] == plant
        assert "day_power" in real[0]["dataItemMap"]


async def test_probe_with_an_unknown_plant_says_so_and_skips_the_rest(
    tmp_path: Path, ledger_target: Path | str
) -> None:
    async with serve_pipeline(ledger_target, SystemClock(), window_s=WINDOW_S) as pipeline:
        config, _ = write_config(pipeline, tmp_path)

        code, out, _ = await probe(config, "--plant", "NE=404")

        assert code == 1
        steps = lines_by_step(out)
        assert "plant NE=404 is not in the account's list" in steps["stations"]
        assert steps["getDevList"].startswith("- skipped")
        assert pipeline.fusionsolar.calls["getDevList"] == 0
