"""The evidence bundle's part for daily-registered inverters, pure: files and derivation (§11).

A daily month is submitted day by day through REDEX's batches endpoint; its figure is the sum of
its days, each traced like a month is (raw FusionSolar answer, exact request bytes, answer,
ProcessId, status history), with the running total traced to the inverter's baseline.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from datetime import datetime
from decimal import Decimal
from typing import Any

from fusionbridge.evidence.day_facts import DailyMonth, DayRequestFile, EvidenceDay
from fusionbridge.evidence.raw import TracedReading

BATCHES_ENDPOINT = "POST /public/v2/generation-datas/batches"

TraceJson = Callable[[TracedReading], dict[str, Any]]
"""How the bundle describes a reading's raw answer (file, SHA-256, key, raw value)."""


def day_request_stem(request_id: int) -> str:
    return f"redex/day-request-{request_id:08d}"


def day_request_files(requests: Iterable[DayRequestFile]) -> dict[str, bytes]:
    """Each batches request's exact bytes, REDEX's answer as received and their times."""
    files: dict[str, bytes] = {}
    for request in requests:
        stem = day_request_stem(request.id)
        files[f"{stem}.json"] = request.payload.encode()
        if request.answer_body is not None:
            files[f"{stem}.answer.json"] = request.answer_body.encode()
        files[f"{stem}.meta.json"] = _json(
            {
                "day_request_id": request.id,
                "endpoint": BATCHES_ENDPOINT,
                "begun_at": _iso(request.begun_at),
                "finished_at": _iso(request.finished_at),
                "answer_http_status": request.answer_status,
                "answered_at": _iso(request.answered_at),
            }
        )
    return files


def daily_derivation(month: DailyMonth, trace: TraceJson) -> dict[str, Any]:
    """The `daily` part of a derivation.json: the rule, the baseline, every day traced."""
    sent = month.sent_kwh
    baseline = month.baseline
    return {
        "rule": (
            "registered Daily at REDEX: the month's submitted kWh is the sum of its days' "
            "PeriodProductionInKWh (each the day value FusionSolar reported under `key`, "
            "parsed exactly from `raw_value`, rounded half up to 3 decimals); each day's "
            "AccumulatedEnergyInKWh is the previous submitted day's plus its own kWh, the "
            "first day's starting from `baseline.opening_kwh`"
        ),
        "days_sent": sum(1 for d in month.days if d.facts.kwh_sent is not None),
        "days_accepted": sum(1 for d in month.days if d.state == "accepted"),
        "sum_of_days_sent_kwh": _dec(sent),
        "sum_of_days_accepted_kwh": _dec(month.accepted_kwh),
        "previous_day": (
            {
                "date": month.previous_day[0].isoformat(),
                "accumulated_kwh": _dec(month.previous_day[1]),
            }
            if month.previous_day
            else None
        ),
        "baseline": (
            {
                "rule": (
                    "opening_kwh = counter_kwh rounded half up to 3 decimals - known_kwh: the "
                    "running total at the end of the day before anchor_day (the counter counts "
                    "until read_at, so the days the ledger already held are taken off)"
                ),
                "source": baseline.source,
                "counter_key": baseline.counter_key,
                "counter_raw": baseline.raw,
                "counter_kwh": _dec(baseline.counter_kwh),
                "known_kwh": _dec(baseline.known_kwh),
                "opening_kwh": _dec(baseline.opening_kwh),
                "anchor_day": baseline.anchor_day.isoformat(),
                "read_at": _iso(baseline.read_at),
                "counter_answer": trace(month.counter) if month.counter else None,
            }
            if baseline
            else None
        ),
        "days": [_day(d, trace) for d in month.days],
        "redex_day_requests": sorted(
            {f"{day_request_stem(i.request_id)}.json" for d in month.days for i in d.requests}
        ),
    }


def _day(day: EvidenceDay, trace: TraceJson) -> dict[str, Any]:
    facts = day.facts
    return {
        "date": day.day.isoformat(),
        "kwh": _dec(day.kwh),
        "accumulated_kwh": _dec(day.accumulated_kwh),
        "state": day.state,
        "kwh_sent": _dec(facts.kwh_sent),
        "accumulated_sent": _dec(facts.accumulated_sent),
        "accepted_kwh": _dec(facts.accepted_kwh),
        "accepted_accumulated": _dec(facts.accepted_accumulated),
        "process_id": facts.process_id,
        "processing_status": facts.processing_status,
        "last_error": facts.last_error,
        "fusionsolar": trace(day.reading) if day.reading else None,
        "redex_requests": [
            {
                "request": f"{day_request_stem(i.request_id)}.json",
                "kwh": _dec(i.kwh),
                "accumulated_kwh": _dec(i.accumulated_kwh),
                "outcome": i.outcome,
                "process_id": i.process_id,
                "message": i.message,
                "statuses": (
                    f"redex/process-{i.process_id}.statuses.json"
                    if i.process_id is not None
                    else None
                ),
            }
            for i in day.requests
        ],
    }


DAILY_README = """
A daily-registered inverter (SPEC: REDEX daily generation data)
---------------------------------------------------------------
Its derivation.json has a `daily` part. The month's `submitted.kwh` is the sum of its days'
`kwh_sent` (`daily.sum_of_days_sent_kwh`); the month value FusionSolar reported (`derivation`)
is kept as a cross-check only and may differ from that sum by rounding. For each day under
`daily.days`:
  - `fusionsolar.raw_response` names the getDevKpiDay / getKpiStationDay answer; the record whose
    devId or stationCode matches `source` and whose collectTime is that date carries
    `dataItemMap[key]` = `raw_value`; rounded half up to three decimals it is `kwh`.
  - `redex_requests` names each redex/day-request-<id>.json that carried the day (the exact
    bytes sent to POST /public/v2/generation-datas/batches): under Devices, the RemoteInvId's
    Data record with that Timestamp holds PeriodProductionInKWh and AccumulatedEnergyInKWh.
    Its .answer.json is REDEX's answer as received (Data.ProcessId), .meta.json the times and
    status, and redex/process-<ProcessId>.statuses.json the processing status history.
  - `accumulated_kwh` is the previous submitted day's plus `kwh`; the month's first day goes on
    from `daily.previous_day`, or, for the inverter's first day, from `daily.baseline`
    (the lifetime counter as read, its raw text, and opening_kwh = counter - known_kwh;
    `baseline.counter_answer` names the getDevRealKpi / getStationRealKpi answer it was read
    from, where `dataItemMap[key]` of the source's record is `raw_value`).
In summary.csv its row says frequency `daily`: kwh_submitted is the sum of its days sent,
days_sent how many, and redex_requests lists its day-request files.
"""


def _json(value: object) -> bytes:
    return (json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()


def _dec(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()
