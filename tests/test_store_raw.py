"""Raw FusionSolar answers: kept once per call as received, linked from readings, pruned by age."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from fusionbridge.clock import VirtualClock
from fusionbridge.core.models import Month
from fusionbridge.evidence.raw import keep_since
from fusionbridge.jobs.sync import sync
from tests.pipeline_harness import serve_pipeline

NOW = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("now", "months", "since"),
    [
        (datetime(2026, 3, 10, 9, tzinfo=UTC), 36, datetime(2023, 3, 10, 9, tzinfo=UTC)),
        (datetime(2026, 3, 31, 9, tzinfo=UTC), 1, datetime(2026, 2, 28, 9, tzinfo=UTC)),
        (datetime(2024, 3, 31, 9, tzinfo=UTC), 1, datetime(2024, 2, 29, 9, tzinfo=UTC)),
        (datetime(2026, 1, 15, 0, tzinfo=UTC), 13, datetime(2024, 12, 15, 0, tzinfo=UTC)),
    ],
)
def test_keep_since(now: datetime, months: int, since: datetime) -> None:
    assert keep_since(now, months) == since


async def test_sync_keeps_each_answer_once_links_every_reading_and_prunes(
    ledger_target: Path | str,
) -> None:
    clock = VirtualClock(NOW)
    async with serve_pipeline(ledger_target, clock) as pipeline:
        settings = pipeline.settings(pipeline.mixed_inverters(), storage={"keep_raw_months": 1})
        async with pipeline.runtime(settings, clock) as rt:
            first, last = Month(2026, 1), Month(2026, 2)
            await sync(rt, first=first, last=last, days=True)
            kpi_calls = sum(n for endpoint, n in rt.fusionsolar.calls.items() if "Kpi" in endpoint)
            assert kpi_calls >= 4
            assert await rt.ledger.raw.raw_response_count() == kpi_calls

            readings = await rt.ledger.energy.monthly()
            assert len(readings) == 2 * len(settings.inverters)
            links = {}
            for (source, month), reading in readings.items():
                trace = await rt.ledger.raw.trace(source, month)
                assert trace.month is not None
                assert trace.month.raw == reading.raw
                links[source, month] = trace.month.raw_response_id
                ids = {trace.month.raw_response_id, *(d.raw_response_id for d in trace.days)}
                assert None not in ids
                kept = await rt.ledger.raw.raw_responses(i for i in ids if i is not None)
                assert len(kept) == len(ids)
                for answer in kept:
                    assert hashlib.sha256(answer.body).hexdigest() == answer.sha256
                    asked = json.loads(answer.request)
                    assert source.id in (asked.get("devIds") or asked["stationCodes"]).split(",")
                    rows = json.loads(answer.body)["data"]
                    assert any(
                        str(row.get("devId", row.get("stationCode"))) == source.id for row in rows
                    )
                assert trace.history[-1].raw_response_id == trace.month.raw_response_id

            # the next day's sync keeps its own answers; readings point at the newest
            clock.advance(86400)
            await sync(rt, first=first, last=last, days=True)
            assert await rt.ledger.raw.raw_response_count() == 2 * kpi_calls
            for key, before in links.items():
                after = await rt.ledger.raw.trace(*key)
                assert after.month is not None
                assert after.month.raw_response_id is not None
                assert before is not None
                assert after.month.raw_response_id > before

            # six weeks on, with keep_raw_months = 1, a sync drops everything older than a month
            clock.set(datetime(2026, 4, 22, 9, 0, tzinfo=UTC))
            calls_before = sum(rt.fusionsolar.calls.values())
            await sync(rt, first=Month(2026, 4), last=Month(2026, 4))
            new = sum(rt.fusionsolar.calls.values()) - calls_before
            assert 0 < await rt.ledger.raw.raw_response_count() <= new
            source, month = next(iter(links))
            gone = await rt.ledger.raw.trace(source, month)
            assert gone.month is not None
            assert gone.month.raw_response_id is not None  # the id stays: pruned, not never kept
            assert await rt.ledger.raw.raw_responses([gone.month.raw_response_id]) == []
