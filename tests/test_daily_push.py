"""Daily-registered inverters end to end over real HTTP: backfill, totals, corrections, refusals."""

from __future__ import annotations

import io
import itertools
import json
import math
import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from fusionbridge.clock import VirtualClock
from fusionbridge.core.models import Month
from fusionbridge.jobs.push import DAILY_HINT, push
from fusionbridge.jobs.sync import sync
from tests.daily_harness import (
    batch_bodies,
    daily_inverters,
    day_truth,
    held_days,
    records_sent,
)
from tests.pipeline_harness import serve_pipeline

NOW = datetime(2027, 1, 5, 10, 0, tzinfo=UTC)
"""Past a year boundary and, three months back, Amsterdam's autumn DST change (2026-10-25)."""
FIRST = Month(2026, 10)


async def test_backfill_lands_every_due_day_with_unbroken_totals_and_sends_nothing_twice(
    ledger_target: Path | str,
) -> None:
    clock = VirtualClock(NOW)
    async with serve_pipeline(ledger_target, clock, processing_polls=1) as pipeline:
        entries = daily_inverters(pipeline)
        pipeline.redex.register(*(e["remote_inv_id"] for e in entries), frequency="Daily")
        settings = pipeline.settings(entries)
        async with pipeline.runtime(settings, clock) as rt:
            await sync(rt, first=FIRST)
            printed = io.StringIO()
            dry = await push(rt, dry_run=True, out=printed)
            assert pipeline.redex.count("batches") == 0
            payload = json.loads(printed.getvalue())  # one request: fewer than 3000 days
            assert sum(len(d["Data"]) for d in payload["Devices"]) == dry.days > 0
            assert all(
                re.fullmatch(r"\d+\.\d{3}", r[key])
                for d in payload["Devices"]
                for r in d["Data"]
                for key in ("PeriodProductionInKWh", "AccumulatedEnergyInKWh")
            )
            report = await push(rt, wait_s=30)
            assert report.standing_problems == 0
            for entry in entries:
                truth = day_truth(pipeline, entry, FIRST.first_day(), clock.now())
                assert len(truth) > 80
                assert held_days(pipeline, entry["remote_inv_id"]) == truth
                held = held_days(pipeline, entry["remote_inv_id"])
                for before, after in itertools.pairwise(sorted(held)):
                    assert held[after][1] == held[before][1] + held[after][0]
            # DST day (25 hours in Amsterdam) and both sides of the year boundary are there
            east = held_days(pipeline, entries[0]["remote_inv_id"])
            assert {date(2026, 10, 25), date(2026, 12, 31), date(2027, 1, 1)} <= set(east)
            records = sum(
                len(day_truth(pipeline, e, FIRST.first_day(), clock.now())) for e in entries
            )
            bodies = batch_bodies(pipeline)
            assert len(bodies) == math.ceil(records / 3000) == 1
            sent_before = len(records_sent(pipeline))
            assert sent_before == records

            printed = io.StringIO()
            dry = await push(rt, dry_run=True, out=printed)
            assert dry.days == 0
            assert printed.getvalue() == ""

            again = await push(rt, wait_s=30)
            assert again.days == 0
            assert len(records_sent(pipeline)) == sent_before
            day_states = {r.state for r in await rt.ledger.days.day_submissions()}
            assert day_states == {"accepted"}


async def test_a_correction_resends_exactly_the_changed_day_and_the_later_sent_ones(
    ledger_target: Path | str,
) -> None:
    clock = VirtualClock(NOW)
    async with serve_pipeline(ledger_target, clock) as pipeline:
        entries = daily_inverters(pipeline)
        pipeline.redex.register(*(e["remote_inv_id"] for e in entries), frequency="Daily")
        settings = pipeline.settings(entries)
        async with pipeline.runtime(settings, clock) as rt:
            await sync(rt, first=FIRST)
            await push(rt, wait_s=30)
            before = len(batch_bodies(pipeline))

            west = entries[1]
            changed = date(2026, 12, 20)
            pipeline.fusionsolar.fleet.revise(pipeline.device_id(west), changed, 1234)
            clock.advance(3600)
            await sync(rt, daily=True)
            await push(rt, wait_s=30)

            [body] = batch_bodies(pipeline)[before:]
            [device] = body["Devices"]
            assert device["RemoteInvId"] == west["remote_inv_id"]
            truth = day_truth(pipeline, west, FIRST.first_day(), clock.now())
            later = [d for d in sorted(truth) if d >= changed]
            assert [r["Timestamp"] for r in device["Data"]] == [d.isoformat() for d in later]
            assert held_days(pipeline, west["remote_inv_id"]) == truth
            for entry in (entries[0], entries[2]):
                assert held_days(pipeline, entry["remote_inv_id"]) == day_truth(
                    pipeline, entry, FIRST.first_day(), clock.now()
                )


async def test_registration_mismatches_are_rejected_with_what_to_do(
    ledger_target: Path | str,
) -> None:
    clock = VirtualClock(NOW)
    async with serve_pipeline(ledger_target, clock) as pipeline:
        daily_entry, monthly_entry, healthy = daily_inverters(pipeline)
        monthly_entry = {k: v for k, v in monthly_entry.items() if k != "frequency"}
        monthly_entry["remote_inv_id"] = "RM-REGISTERED-DAILY"
        pipeline.redex.register(daily_entry["remote_inv_id"], frequency="Monthly")
        pipeline.redex.register(monthly_entry["remote_inv_id"], frequency="Daily")
        pipeline.redex.register(healthy["remote_inv_id"], frequency="Daily")
        settings = pipeline.settings([daily_entry, monthly_entry, healthy])
        async with pipeline.runtime(settings, clock) as rt:
            await sync(rt, first=Month(2026, 11))
            report = await push(rt, wait_s=30)
            assert report.standing_problems > 0
            months = await rt.ledger.submissions.records([monthly_entry["remote_inv_id"]])
            assert months
            assert {m.state.value for m in months} == {"rejected"}
            assert all((m.last_error or "").endswith(DAILY_HINT) for m in months)
            days = await rt.ledger.days.day_submissions([daily_entry["remote_inv_id"]])
            assert days
            assert {d.state for d in days} == {"rejected"}
            assert all("{Monthly}" in (d.last_error or "") for d in days)
            assert pipeline.redex.accepted == {}
            # the 422 named one device; the other went out again in a request of its own
            assert held_days(pipeline, daily_entry["remote_inv_id"]) == {}
            assert held_days(pipeline, healthy["remote_inv_id"]) == day_truth(
                pipeline, healthy, date(2026, 11, 1), clock.now()
            )
            assert [r.status for r in pipeline.redex.requests if r.endpoint == "batches"] == [
                422,
                201,
            ]


async def test_more_than_3000_due_records_go_in_the_fewest_requests(
    ledger_target: Path | str,
) -> None:
    clock = VirtualClock(NOW)
    async with serve_pipeline(ledger_target, clock) as pipeline:
        entries: list[dict[str, Any]] = []
        for plant in pipeline.fusionsolar.fleet.plants:
            for device in pipeline.fusionsolar.fleet.inverters(plant.code):
                entries.append(
                    {
                        "remote_inv_id": f"RM-D-{device.id}",
                        "device_id": device.id,
                        "timezone": plant.zone.key,
                        "frequency": "daily",
                    }
                )
        entries = entries[:12]
        pipeline.redex.register(*(e["remote_inv_id"] for e in entries), frequency="Daily")
        settings = pipeline.settings(entries)
        first = Month(2026, 2)
        async with pipeline.runtime(settings, clock) as rt:
            await sync(rt, first=first)
            await push(rt, wait_s=30)
        truth = {
            e["remote_inv_id"]: day_truth(pipeline, e, first.first_day(), clock.now())
            for e in entries
        }
        records = sum(len(t) for t in truth.values())
        assert records > 3000
        bodies = batch_bodies(pipeline)
        assert len(bodies) == math.ceil(records / 3000)
        for body in bodies:
            names = [d["RemoteInvId"] for d in body["Devices"]]
            assert len(names) == len(set(names))
            assert sum(len(d["Data"]) for d in body["Devices"]) <= 3000
        for remote_inv_id, expected in truth.items():
            assert held_days(pipeline, remote_inv_id) == expected
        assert len(records_sent(pipeline)) == records
        assert (
            min(d for _, d in records_sent(pipeline))
            >= (first.first_day() - timedelta(days=0)).isoformat()
        )
