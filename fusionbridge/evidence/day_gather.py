"""Read a daily inverter's month for the evidence bundle from the ledger (read only)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import date
from decimal import Decimal

from fusionbridge.core.daily_plan import DayLine
from fusionbridge.core.models import Month
from fusionbridge.evidence.day_facts import DailyMonth, DayRequestFile, EvidenceDay
from fusionbridge.evidence.raw import TracedReading
from fusionbridge.store import Ledger
from fusionbridge.store.day_evidence import DayItem
from fusionbridge.store.day_submissions import Baseline


async def gather_daily(
    ledger: Ledger,
    month: Month,
    lines: Mapping[str, Sequence[DayLine]],
    readings: Mapping[str, Sequence[TracedReading]],
) -> tuple[dict[str, DailyMonth], dict[int, DayRequestFile]]:
    """Per daily inverter (the keys of `lines`), its month; and every day request they name."""
    if not lines:
        return {}, {}
    inverters = sorted(lines)
    baselines = await ledger.days.baselines()
    counter_answers = await ledger.day_evidence.counter_answer_ids()
    items: dict[tuple[str, date], list[DayItem]] = {}
    for item in await ledger.day_evidence.day_items(inverters, month.first_day(), month.last_day()):
        items.setdefault((item.remote_inv_id, item.day), []).append(item)
    before: dict[str, tuple[date, Decimal]] = {}
    for record in await ledger.days.day_submissions(inverters):
        if record.day < month.first_day() and record.accumulated_sent is not None:
            before[record.remote_inv_id] = (record.day, record.accumulated_sent)  # days ascend
    result: dict[str, DailyMonth] = {}
    for inverter in inverters:
        by_day = {r.period: r for r in readings.get(inverter, ())}
        result[inverter] = DailyMonth(
            baseline=baselines.get(inverter),
            previous_day=before.get(inverter),
            days=tuple(
                EvidenceDay(
                    day=line.day,
                    kwh=line.kwh,
                    accumulated_kwh=line.accumulated_kwh,
                    state=line.state.value,
                    facts=line.facts,
                    reading=by_day.get(line.day),
                    requests=tuple(items.get((inverter, line.day), ())),
                )
                for line in sorted(lines[inverter], key=lambda x: x.day)
            ),
            counter=_counter(baselines.get(inverter), counter_answers.get(inverter)),
        )
    ids = {i.request_id for carried in items.values() for i in carried}
    answers = await ledger.day_evidence.day_answers(ids)
    files = {}
    for request in await ledger.day_evidence.day_requests(ids):
        answer = answers.get(request.id)
        files[request.id] = DayRequestFile(
            request.id,
            request.payload,
            request.begun_at,
            request.finished_at,
            answer.http_status if answer else None,
            answer.body if answer else None,
            answer.received_at if answer else None,
        )
    return result, files


def _counter(baseline: Baseline | None, raw_response_id: int | None) -> TracedReading | None:
    """The counter reading as a traced value: the raw text Huawei sent under its key."""
    if baseline is None:
        return None
    raw = json.loads(baseline.raw, parse_float=Decimal).get(baseline.counter_key)
    return TracedReading(
        period=baseline.anchor_day,
        kwh=baseline.counter_kwh,
        raw=str(raw),
        key=baseline.counter_key,
        fetched_at=baseline.read_at,
        raw_response_id=raw_response_id,
    )
