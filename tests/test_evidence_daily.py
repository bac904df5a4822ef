"""`evidence` for daily-registered inverters: the month is the sum of its days, each day traced.

Sync and push run as the operator runs them against both simulators on loopback; every day of
the bundle is then checked against the FusionSolar bytes and the batches request bytes the
REDEX simulator received.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from fusionbridge.clock import SystemClock
from fusionbridge.core.models import Month, round_kwh
from fusionbridge.fusionsolar.wire import from_epoch_ms
from tests.daily_harness import daily_inverters, day_truth
from tests.pipeline_harness import serve_pipeline
from tests.test_evidence import Rig, members, sha

CURRENT = Month.containing(datetime.now(UTC), ZoneInfo("UTC"))
FIRST = CURRENT.shift(-3)


@pytest.fixture
async def daily_rig(
    tmp_path: Path, ledger_target: Path | str, capsys: pytest.CaptureFixture[str]
) -> AsyncIterator[Rig]:
    async with serve_pipeline(
        ledger_target, SystemClock(), rate_limit=1000, rate_period_s=1.0
    ) as pipeline:
        monthly = pipeline.mixed_inverters()[0]
        daily = daily_inverters(pipeline)
        pipeline.redex.register(monthly["remote_inv_id"])
        pipeline.redex.register(*(e["remote_inv_id"] for e in daily), frequency="Daily")
        inverters = [monthly, *daily]
        config = pipeline.write_toml(tmp_path / "fusionbridge.toml", inverters)
        yield Rig(pipeline, config, inverters, capsys)


def _check_hashes(files: dict[str, bytes]) -> None:
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


def _fusionsolar_value(
    files: dict[str, bytes], trace: dict[str, Any], source: str, day: date, zone: ZoneInfo
) -> Decimal:
    """The day's value read back from the kept answer, after checking its recorded hash."""
    body = files[trace["raw_response"]]
    meta = json.loads(files[trace["raw_response"].replace(".response.", ".meta.")])
    assert sha(body) == meta["response_sha256_recorded_at_fetch"] == trace["raw_response_sha256"]
    assert meta["endpoint"] in ("getDevKpiDay", "getKpiStationDay")
    kind, source_id, _ = source.split(":", 2)
    request = json.loads(files[trace["raw_response"].replace(".response.", ".request.")])
    assert source_id in request["devIds" if kind == "device" else "stationCodes"].split(",")
    records = [
        r
        for r in json.loads(body, parse_float=Decimal)["data"]
        if str(r["devId" if kind == "device" else "stationCode"]) == source_id
        and from_epoch_ms(r["collectTime"]).astimezone(zone).date() == day
    ]
    assert len(records) == 1
    upstream = Decimal(str(records[0]["dataItemMap"][trace["key"]]))
    assert upstream == Decimal(trace["raw_value"])
    return upstream


async def test_a_daily_inverters_month_is_the_sum_of_its_days_each_traced_both_ways(
    daily_rig: Rig, tmp_path: Path
) -> None:
    rig = daily_rig
    # up to now: the baseline's counter counts until it is read, so every day since is known
    code, _, err = await rig("sync", "--from", str(FIRST), "--to", str(CURRENT))
    assert code == 0, err
    code, out, err = await rig("push", "--wait", "10")
    assert code == 0, out + err

    first, second = tmp_path / "first.zip", tmp_path / "second.zip"
    code, out, err = await rig("evidence", "--month", str(FIRST), "--out", str(first))
    assert code == 0, err
    assert out.startswith(f"wrote {first}: 4 inverters")
    assert (await rig("evidence", "--month", str(FIRST), "--out", str(second)))[0] == 0
    assert first.read_bytes() == second.read_bytes(), "the same ledger must give the same bytes"

    files = members(first)
    _check_hashes(files)
    assert "A daily-registered inverter" in files["README.txt"].decode()
    summary = {
        row["remote_inv_id"]: row
        for row in csv.DictReader(io.StringIO(files["summary.csv"].decode()))
    }
    assert summary[rig.inverters[0]["remote_inv_id"]]["frequency"] == "monthly"

    received = {
        r.raw: r.body
        for r in rig.pipeline.redex.requests
        if r.endpoint == "batches" and r.status == 201
    }
    assert received, "the daily inverters went out as batches"
    now = datetime.now(UTC)
    for entry in rig.inverters[1:]:
        inverter = entry["remote_inv_id"]
        derivation = json.loads(files[f"inverters/{inverter}/{FIRST}/derivation.json"])
        assert derivation["frequency"] == "daily"
        assert derivation["state"] == "accepted"
        assert derivation["redex_requests"] == []  # no monthly request carried it
        daily = derivation["daily"]
        truth = {
            d: v
            for d, v in day_truth(rig.pipeline, entry, FIRST.first_day(), now).items()
            if Month.of(d) == FIRST
        }
        days = [d for d in daily["days"] if d["kwh_sent"] is not None]
        assert [date.fromisoformat(d["date"]) for d in days] == sorted(truth)
        assert len(days) >= 25  # the simulator leaves out a few days, as Huawei does

        # the month's submitted kWh is the sum of its days, as REDEX holds them
        total = sum((Decimal(d["kwh_sent"]) for d in days), Decimal(0))
        assert total == sum(kwh for kwh, _ in truth.values())
        assert Decimal(derivation["submitted"]["kwh"]) == total
        assert Decimal(daily["sum_of_days_sent_kwh"]) == total
        assert Decimal(derivation["submitted"]["accepted_kwh"]) == total
        assert daily["days_accepted"] == daily["days_sent"] == len(days)
        row = summary[inverter]
        assert (row["frequency"], Decimal(row["kwh_submitted"])) == ("daily", total)
        assert int(row["days_sent"]) == len(days)

        # the running total: from the baseline (this is the inverter's first month) day by day
        baseline = daily["baseline"]
        assert baseline["anchor_day"] == days[0]["date"]
        assert daily["previous_day"] is None
        counter = Decimal(json.loads(baseline["counter_raw"])[baseline["counter_key"]])
        assert counter == Decimal(baseline["counter_kwh"])
        # ... the counter traced to the FusionSolar answer it was read from
        answer = baseline["counter_answer"]
        body = files[answer["raw_response"]]
        meta = json.loads(files[answer["raw_response"].replace(".response.", ".meta.")])
        assert (
            sha(body) == meta["response_sha256_recorded_at_fetch"] == answer["raw_response_sha256"]
        )
        kind, source_id, _ = derivation["source"].split(":", 2)
        assert meta["endpoint"] == ("getDevRealKpi" if kind == "device" else "getStationRealKpi")
        [record] = [
            r
            for r in json.loads(body, parse_float=Decimal)["data"]
            if str(r["devId" if kind == "device" else "stationCode"]) == source_id
        ]
        assert Decimal(str(record["dataItemMap"][baseline["counter_key"]])) == counter
        assert Decimal(answer["raw_value"]) == counter
        opening = Decimal(baseline["opening_kwh"])
        assert opening == round_kwh(counter) - Decimal(baseline["known_kwh"])
        running = opening
        for day in days:
            running += Decimal(day["kwh_sent"])
            assert Decimal(day["accumulated_sent"]) == running
        for before, after in itertools.pairwise(days):
            assert Decimal(after["accumulated_sent"]) > Decimal(before["accumulated_sent"])

        zone = ZoneInfo(derivation["zone"])
        for day in days:
            when = date.fromisoformat(day["date"])
            kwh, accumulated = truth[when]
            assert (Decimal(day["kwh_sent"]), Decimal(day["accumulated_sent"])) == truth[when]
            assert day["state"] == "accepted"
            assert day["processing_status"] == "Success"

            # ... to the raw FusionSolar bytes
            upstream = _fusionsolar_value(
                files, day["fusionsolar"], derivation["source"], when, zone
            )
            assert round_kwh(upstream) == kwh == Decimal(day["kwh"])

            # ... and to the batches request bytes REDEX received, its answer and statuses
            [sent] = [r for r in day["redex_requests"] if r["outcome"] == "sent"]
            request_bytes = files[sent["request"]]
            assert request_bytes in received, "the bundle's request is what REDEX received"
            [device] = [
                d for d in received[request_bytes]["Devices"] if d["RemoteInvId"] == inverter
            ]
            [record] = [r for r in device["Data"] if r["Timestamp"] == day["date"]]
            assert record["PeriodProductionInKWh"] == day["kwh_sent"] == sent["kwh"]
            assert record["AccumulatedEnergyInKWh"] == str(accumulated) == sent["accumulated_kwh"]
            stem = sent["request"].removesuffix(".json")
            answer = json.loads(files[f"{stem}.answer.json"])
            assert answer["Data"]["ProcessId"] == sent["process_id"] == day["process_id"]
            meta = json.loads(files[f"{stem}.meta.json"])
            assert meta["answer_http_status"] == 201
            assert meta["endpoint"] == "POST /public/v2/generation-datas/batches"
            statuses = json.loads(files[sent["statuses"]])
            assert statuses[-1]["status"] == "Success"
            assert sent["request"] in daily["redex_day_requests"]
