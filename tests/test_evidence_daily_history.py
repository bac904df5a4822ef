"""A daily month's evidence after a correction and a refusal: every request that carried a day.

In-process against both simulators on loopback with a virtual clock (the bundle is pure, so
`gather` and `build_files` are what the `evidence` command runs).
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

from fusionbridge.clock import VirtualClock
from fusionbridge.core.models import Month
from fusionbridge.evidence.bundle import build_files, zip_bytes
from fusionbridge.evidence.gather import gather
from fusionbridge.jobs.push import push
from fusionbridge.jobs.sync import sync
from tests.daily_harness import daily_inverters, day_truth
from tests.pipeline_harness import serve_pipeline

NOW = datetime(2027, 1, 5, 10, 0, tzinfo=UTC)
FIRST, DECEMBER = Month(2026, 10), Month(2026, 12)


async def test_a_corrected_day_shows_both_requests_and_the_total_goes_on_from_the_month_before(
    ledger_target: Path | str,
) -> None:
    clock = VirtualClock(NOW)
    async with serve_pipeline(ledger_target, clock) as pipeline:
        entries = daily_inverters(pipeline)
        pipeline.redex.register(*(e["remote_inv_id"] for e in entries), frequency="Daily")
        settings = pipeline.settings(entries)
        west = entries[1]
        inverter = west["remote_inv_id"]
        changed = date(2026, 12, 20)
        async with pipeline.runtime(settings, clock) as rt:
            await sync(rt, first=FIRST)
            await push(rt, wait_s=30)
            pipeline.fusionsolar.fleet.revise(pipeline.device_id(west), changed, 1234)
            clock.advance(3600)
            await sync(rt, daily=True)
            await push(rt, wait_s=30)
            facts = await gather(settings, rt.ledger, DECEMBER, clock.now(), inverter)
            again = await gather(settings, rt.ledger, DECEMBER, clock.now(), inverter)
        files = build_files(facts)
        assert zip_bytes(files) == zip_bytes(build_files(again))

    received = {r.raw: r for r in pipeline.redex.requests if r.endpoint == "batches"}
    derivation = json.loads(files[f"inverters/{inverter}/{DECEMBER}/derivation.json"])
    daily = derivation["daily"]
    truth = {
        d: v
        for d, v in day_truth(pipeline, west, FIRST.first_day(), clock.now()).items()
        if Month.of(d) == DECEMBER
    }
    days = {date.fromisoformat(d["date"]): d for d in daily["days"] if d["kwh_sent"]}
    assert set(days) == set(truth)
    for day, (kwh, accumulated) in truth.items():
        assert (Decimal(days[day]["kwh_sent"]), Decimal(days[day]["accumulated_sent"])) == (
            kwh,
            accumulated,
        )
    assert Decimal(derivation["submitted"]["kwh"]) == sum(k for k, _ in truth.values())

    # the month's totals go on from November's last day, as REDEX holds it
    november = max(
        d for inv, d in pipeline.redex.accepted_days if inv == inverter and d < DECEMBER.first_day()
    )
    previous = daily["previous_day"]
    assert previous["date"] == "2026-11-30" == november.isoformat()
    assert (
        Decimal(previous["accumulated_kwh"])
        == pipeline.redex.accepted_days[(inverter, november)][1]
    )
    first = days[min(days)]
    assert Decimal(first["accumulated_sent"]) == Decimal(previous["accumulated_kwh"]) + Decimal(
        first["kwh_sent"]
    )

    # the changed day and every later one went out twice; each request is in the bundle as sent
    for day, line in days.items():
        carried = line["redex_requests"]
        assert len(carried) == (2 if day >= changed else 1), day
        assert all(r["outcome"] == "sent" for r in carried)
        for request in carried:
            assert files[request["request"]] in received
        latest = json.loads(files[carried[-1]["request"]])
        [device] = [d for d in latest["Devices"] if d["RemoteInvId"] == inverter]
        [record] = [r for r in device["Data"] if r["Timestamp"] == day.isoformat()]
        assert record["PeriodProductionInKWh"] == line["kwh_sent"]
        assert record["AccumulatedEnergyInKWh"] == line["accumulated_sent"]
    before, after = days[changed]["redex_requests"]
    assert Decimal(before["kwh"]) != Decimal(after["kwh"]) == truth[changed][0]
    assert len(daily["redex_day_requests"]) == 2


async def test_a_refused_day_request_keeps_redexs_answer_as_received(
    ledger_target: Path | str,
) -> None:
    clock = VirtualClock(NOW)
    async with serve_pipeline(ledger_target, clock) as pipeline:
        refused, _, healthy = daily_inverters(pipeline)
        pipeline.redex.register(refused["remote_inv_id"], frequency="Monthly")
        pipeline.redex.register(healthy["remote_inv_id"], frequency="Daily")
        settings = pipeline.settings([refused, healthy])
        async with pipeline.runtime(settings, clock) as rt:
            await sync(rt, first=DECEMBER)
            await push(rt, wait_s=30)
            facts = await gather(settings, rt.ledger, DECEMBER, clock.now())
        files = build_files(facts)

    statuses = [r.status for r in pipeline.redex.requests if r.endpoint == "batches"]
    assert statuses == [422, 201]
    derivation = json.loads(
        files[f"inverters/{refused['remote_inv_id']}/{DECEMBER}/derivation.json"]
    )
    assert derivation["state"] == "rejected"
    assert derivation["submitted"]["kwh"] is not None  # what went out, though refused
    assert derivation["submitted"]["accepted_kwh"] is None
    days = [d for d in derivation["daily"]["days"] if d["kwh_sent"]]
    assert days
    for day in days:
        [request] = day["redex_requests"]
        assert request["outcome"] == "rejected"
        assert "{Monthly}" in request["message"]
        assert request["process_id"] is None
        stem = request["request"].removesuffix(".json")
        meta = json.loads(files[f"{stem}.meta.json"])
        assert meta["answer_http_status"] == 422
        answer = json.loads(files[f"{stem}.answer.json"])
        assert "{Monthly}" in json.dumps(answer)
    healthy_days = json.loads(
        files[f"inverters/{healthy['remote_inv_id']}/{DECEMBER}/derivation.json"]
    )["daily"]["days"]
    answers = {
        json.loads(files[r["request"].replace(".json", ".meta.json")])["answer_http_status"]
        for d in healthy_days
        for r in d["redex_requests"]
    }
    assert answers == {422, 201}  # in the refused request first, then in one of its own
