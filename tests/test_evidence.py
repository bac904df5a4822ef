"""`evidence`: a pushed month's bundle traces each kWh to FusionSolar's bytes and REDEX's request.

Sync and push run as the operator runs them (`fusionbridge.cli.main`) against both simulators
on loopback; the bundle is then opened and every claim in it checked against the simulators.
"""

from __future__ import annotations

import asyncio
import csv
import hashlib
import io
import json
import os
import subprocess
import sys
import zipfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from fusionbridge.cli.main import main
from fusionbridge.clock import SystemClock
from fusionbridge.core.models import Month, round_kwh
from fusionbridge.fusionsolar.wire import from_epoch_ms
from tests.pipeline_harness import SECRETS, Pipeline, serve_pipeline

CURRENT = Month.containing(datetime.now(UTC), ZoneInfo("UTC"))
FIRST, LAST = CURRENT.shift(-3), CURRENT.shift(-2)
REPO = Path(__file__).resolve().parent.parent


@dataclass
class Rig:
    pipeline: Pipeline
    config: Path
    inverters: list[dict[str, Any]]
    capsys: pytest.CaptureFixture[str]

    async def __call__(self, *argv: str) -> tuple[int, str, str]:
        code = await asyncio.to_thread(main, ["--config", str(self.config), *argv])
        out, err = self.capsys.readouterr()
        for secret in SECRETS:
            assert secret not in out + err
        return code, out, err


@pytest.fixture
async def rig(
    tmp_path: Path, ledger_target: Path | str, capsys: pytest.CaptureFixture[str]
) -> AsyncIterator[Rig]:
    async with serve_pipeline(
        ledger_target, SystemClock(), rate_limit=1000, rate_period_s=1.0
    ) as pipeline:
        entries = pipeline.mixed_inverters()
        inverters = [entries[0], entries[1], entries[4]]  # type 1, type 38, a plant
        pipeline.redex.register(*(e["remote_inv_id"] for e in inverters))
        config = pipeline.write_toml(tmp_path / "fusionbridge.toml", inverters)
        yield Rig(pipeline, config, inverters, capsys)


def members(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


async def test_bundle_of_a_pushed_month_traces_every_figure_and_is_reproducible(
    rig: Rig, tmp_path: Path
) -> None:
    code, _, err = await rig("sync", "--from", str(FIRST), "--to", str(LAST), "--days")
    assert code == 0, err
    code, out, err = await rig("push", "--wait", "10")
    assert code == 0, out + err

    first, second = tmp_path / "first.zip", tmp_path / "second.zip"
    code, out, err = await rig("evidence", "--month", str(FIRST), "--out", str(first))
    assert code == 0, err
    assert out.startswith(f"wrote {first}: 3 inverters")
    assert (await rig("evidence", "--month", str(FIRST), "--out", str(second)))[0] == 0
    assert first.read_bytes() == second.read_bytes(), "the same ledger must give the same bytes"

    files = members(first)
    with zipfile.ZipFile(first) as archive:
        assert {info.date_time for info in archive.infolist()} == {(1980, 1, 1, 0, 0, 0)}
        assert archive.namelist() == sorted(archive.namelist())

    # every file is in the manifest with its hash, and in SHA256SUMS
    manifest = json.loads(files["manifest.json"])
    assert set(manifest["files"]) == set(files) - {"manifest.json"}
    for name, entry in manifest["files"].items():
        assert entry == {"sha256": sha(files[name]), "bytes": len(files[name])}
    sums: dict[str, str] = {}
    for line in files["SHA256SUMS"].decode().splitlines():
        digest, name = line.split("  ", 1)
        sums[name] = digest
    assert set(sums) == set(files) - {"manifest.json", "SHA256SUMS"}
    assert all(sums[name] == sha(files[name]) for name in sums)
    readme = files["README.txt"].decode()
    assert "sha256sum -c SHA256SUMS" in readme
    assert "derivation.json" in readme

    summary = list(csv.DictReader(io.StringIO(files["summary.csv"].decode())))
    assert [row["remote_inv_id"] for row in summary] == sorted(
        e["remote_inv_id"] for e in rig.inverters
    )

    received = [
        r.body for r in rig.pipeline.redex.requests if r.endpoint == "monthly_data" and r.status
    ]
    for entry in rig.inverters:
        inverter = entry["remote_inv_id"]
        truth = rig.pipeline.truth(entry, FIRST, FIRST)[(FIRST.year, FIRST.month)]
        derivation = json.loads(files[f"inverters/{inverter}/{FIRST}/derivation.json"])
        assert derivation["state"] == "accepted"
        assert Decimal(derivation["submitted"]["kwh"]) == truth
        assert derivation["submitted"]["processing_status"] == "Success"

        # the figure, traced to the raw FusionSolar bytes
        step = derivation["derivation"]
        body = files[step["raw_response"]]
        meta = json.loads(files[step["raw_response"].replace(".response.", ".meta.")])
        assert sha(body) == meta["response_sha256_recorded_at_fetch"] == step["raw_response_sha256"]
        assert meta["endpoint"] in ("getDevKpiMonth", "getKpiStationMonth")
        request = json.loads(files[step["raw_response"].replace(".response.", ".request.")])
        id_key = "devIds" if meta["endpoint"] == "getDevKpiMonth" else "stationCodes"
        kind, source_id, _ = derivation["source"].split(":", 2)
        assert source_id in request[id_key].split(",")
        zone = ZoneInfo(derivation["zone"])
        records = [
            r
            for r in json.loads(body, parse_float=Decimal)["data"]
            if str(r["devId" if kind == "device" else "stationCode"]) == source_id
            and Month.containing(from_epoch_ms(r["collectTime"]), zone) == FIRST
        ]
        assert len(records) == 1
        upstream = records[0]["dataItemMap"][step["key"]]
        assert Decimal(str(upstream)) == Decimal(step["raw_value"])
        assert round_kwh(Decimal(str(upstream))) == truth == Decimal(step["kwh_rounded"])

        # day values (the simulator leaves some out, as Huawei does), each from a kept answer
        dates = [d["date"] for d in derivation["days"]]
        assert dates
        assert dates == sorted(set(dates))
        assert all(date.startswith(f"{FIRST}-") for date in dates)
        assert all(d["raw_response_sha256"] for d in derivation["days"])
        day_sum = sum(Decimal(d["kwh"]) for d in derivation["days"])
        assert Decimal(derivation["days_sum_kwh"]) == day_sum

        # ... and to the exact REDEX request bytes, its answer and status history
        sent = [r for r in derivation["redex_requests"] if r["outcome"] == "sent"]
        assert len(sent) == 1
        payload = json.loads(files[sent[0]["request"]], parse_float=Decimal)
        assert payload in received, "the bundle's request is what REDEX received"
        item = next(i for i in payload if i["RemoteInvId"] == inverter)
        assert item["Data"]["Year"] == FIRST.year
        assert Decimal(str(item["Data"]["PeriodProductionPerMonthInKWh"][FIRST.key])) == truth
        answer = json.loads(files[sent[0]["request"].replace(".json", ".answer.json")])
        assert answer["Data"]["ProcessId"] == sent[0]["process_id"]
        statuses = json.loads(files[sent[0]["statuses"]])
        assert statuses[-1]["status"] == "Success"

        row = next(r for r in summary if r["remote_inv_id"] == inverter)
        assert Decimal(row["kwh_submitted"]) == truth
        assert row["raw_response_sha256"] == sha(body)


async def test_one_inverter_only(rig: Rig, tmp_path: Path) -> None:
    assert (await rig("sync", "--from", str(FIRST), "--to", str(FIRST)))[0] == 0
    target = rig.inverters[1]["remote_inv_id"]
    out = tmp_path / "one.zip"
    code, _, err = await rig(
        "evidence", "--month", str(FIRST), "--inverter", target, "--out", str(out)
    )
    assert code == 0, err
    names = members(out)
    assert {n.split("/")[1] for n in names if n.startswith("inverters/")} == {target}
    derivation = json.loads(names[f"inverters/{target}/{FIRST}/derivation.json"])
    assert derivation["state"] in ("due", "fetched")
    assert derivation["submitted"]["kwh"] is None
    assert derivation["redex_requests"] == []
    assert derivation["irec_deadline"] is not None

    unknown = await rig(
        "evidence", "--month", str(FIRST), "--inverter", "RM-NOPE", "--out", str(out)
    )
    assert unknown[0] == 1
    assert "RM-NOPE" in unknown[2]


def test_a_month_never_fetched_exits_1_naming_what_is_missing(
    tmp_path: Path, ledger_target: Path | str
) -> None:
    url = {} if isinstance(ledger_target, Path) else {"FUSIONBRIDGE_STORAGE__URL": ledger_target}
    config = tmp_path / "fusionbridge.toml"
    config.write_text(
        f"""timezone = "Europe/Amsterdam"
[fusionsolar]
base_url = "http://127.0.0.1:9"
username = "u"
system_code = "never-used-secret"
[redex]
base_url = "http://127.0.0.1:9"
access_token = "never-used-token"
[storage]
path = "{tmp_path / "ledger.db"}"
[[inverters]]
remote_inv_id = "RM-NEVER-FETCHED"
plant_code = "NE=1"
"""
    )
    out = tmp_path / "bundle.zip"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "fusionbridge",
            "--config",
            str(config),
            "evidence",
            "--month",
            "2025-03",
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=tmp_path,
        env={**os.environ, **url, "PYTHONPATH": str(REPO)},
    )
    assert done.returncode == 1, done.stderr
    assert (tmp_path / "ledger.db").exists() == (not url), "the url wins over the path"
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    assert "2025-03" in lines[0]
    assert "RM-NEVER-FETCHED" in lines[0]
    assert "fusionbridge sync --from 2025-03 --to 2025-03" in lines[0]
    assert "Traceback" not in done.stderr
    assert "never-used" not in done.stderr
    assert not out.exists()


async def test_export_csv_and_json_agree_with_status_json(rig: Rig) -> None:
    assert (await rig("sync", "--from", str(FIRST), "--to", str(LAST), "--days"))[0] == 0
    assert (await rig("push", "--wait", "10"))[0] == 0
    code, out, _ = await rig("status", "--json")
    assert code == 0
    status = json.loads(out)
    expected = [
        {"remote_inv_id": inv["remote_inv_id"], "source": inv["source"], **month}
        for inv in status["inverters"]
        for month in inv["months"]
    ]
    assert expected, "status shows months"

    code, out, _ = await rig("export", "--format", "json")
    assert code == 0
    rows = json.loads(out)
    assert len(rows) == len(expected)
    for row, want in zip(rows, expected, strict=True):
        assert set(row) <= set(want)
        assert row == {k: want[k] for k in row}
        assert row["deadline"] is None  # every month was accepted

    code, out, _ = await rig("export")
    assert code == 0
    table = list(csv.DictReader(io.StringIO(out)))
    assert len(table) == len(rows)
    for line, row in zip(table, rows, strict=True):
        assert line == {k: "" if v is None else str(v) for k, v in row.items()}

    code, out, _ = await rig("export", "--from", str(LAST), "--to", str(LAST), "--format", "json")
    narrowed = json.loads(out)
    assert {r["month"] for r in narrowed} == {str(LAST)}
    assert len(narrowed) == len(rig.inverters)

    code, out, _ = await rig("export", "--days", "--from", str(FIRST), "--to", str(FIRST))
    assert code == 0
    days = list(csv.DictReader(io.StringIO(out)))
    assert days
    assert all(d["date"].startswith(f"{FIRST}-") for d in days)
    states = {(r["remote_inv_id"], r["month"]): r for r in rows}
    for day in days:
        month_row = states[(day["remote_inv_id"], str(FIRST))]
        assert day["month_state"] == month_row["state"] == "accepted"
        assert day["process_id"] == str(month_row["process_id"])

    backwards = await rig("export", "--from", str(LAST), "--to", str(FIRST))
    assert backwards[0] == 2
