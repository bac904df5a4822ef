"""The evidence bundle's files and zip, pure: the same facts always give the same bytes.

Everything a verifier needs to trace a submitted kWh figure, per remote inverter and month, to
the FusionSolar bytes it was read from and the REDEX request bytes it went out in. Shared files
(one FusionSolar answer carries up to 100 inverters, one REDEX request up to 100 items) are
stored once and named from each inverter's `derivation.json`.
"""

from __future__ import annotations

import csv
import io
import json
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from fusionbridge.core.models import Month, round_kwh
from fusionbridge.evidence.day_facts import DailyMonth, DayRequestFile
from fusionbridge.evidence.day_files import (
    DAILY_README,
    daily_derivation,
    day_request_files,
    day_request_stem,
)
from fusionbridge.evidence.raw import TracedReading, sha256_hex

ZIP_TIME = (1980, 1, 1, 0, 0, 0)
"""Every member gets this timestamp, so a rebuilt bundle is byte-identical."""


@dataclass(frozen=True, slots=True)
class RawFile:
    """A kept FusionSolar answer: `body` exactly as received, `sha256` as recorded at fetch time."""

    id: int
    endpoint: str
    request: str
    fetched_at: datetime
    sha256: str
    body: bytes = field(repr=False)

    @property
    def stem(self) -> str:
        return f"fusionsolar/{self.id:08d}-{self.endpoint}"


@dataclass(frozen=True, slots=True)
class RequestFile:
    """A REDEX monthly-data request as logged before it left, and its answer if one came."""

    id: int
    payload: str
    begun_at: datetime
    finished_at: datetime | None
    answer_status: int | None
    answer_body: str | None
    answered_at: datetime | None


@dataclass(frozen=True, slots=True)
class RequestItem:
    """One inverter-month inside a request, with what became of it."""

    request_id: int
    kwh: Decimal
    outcome: str | None
    process_id: int | None
    message: str | None


@dataclass(frozen=True, slots=True)
class StatusSeen:
    status: str
    body: str
    seen_at: datetime


@dataclass(frozen=True, slots=True)
class InverterMonth:
    """Everything the ledger holds about one remote inverter's month."""

    remote_inv_id: str
    month: Month
    source: str
    zone: str
    state: str
    month_reading: TracedReading
    days: tuple[TracedReading, ...]
    history: tuple[TracedReading, ...]
    findings: tuple[tuple[str, str, str], ...]
    value_sent: Decimal | None
    sent_at: datetime | None
    process_id: int | None
    processing_status: str | None
    accepted_kwh: Decimal | None
    accepted_at: datetime | None
    drift_kwh: Decimal | None
    last_error: str | None
    requests: tuple[RequestItem, ...]
    deadline: date | None
    daily: DailyMonth | None = None
    """A daily-registered inverter's days, baseline and day requests (SPEC §11)."""


@dataclass(frozen=True)
class BundleFacts:
    """The inputs of one bundle: inverter-months and the shared files they point at."""

    month: Month
    inverters: Sequence[InverterMonth]
    raw: Mapping[int, RawFile]
    requests: Mapping[int, RequestFile]
    statuses: Mapping[int, Sequence[StatusSeen]]
    day_requests: Mapping[int, DayRequestFile] = field(default_factory=dict)


def build_files(facts: BundleFacts) -> dict[str, bytes]:
    """Every file of the bundle by path, manifest and checksums included."""
    files: dict[str, bytes] = {}
    for raw in facts.raw.values():
        files[f"{raw.stem}.request.json"] = raw.request.encode()
        files[f"{raw.stem}.response.json"] = raw.body
        files[f"{raw.stem}.meta.json"] = _json(
            {
                "endpoint": raw.endpoint,
                "fetched_at": _iso(raw.fetched_at),
                "response_sha256_recorded_at_fetch": raw.sha256,
                "response_bytes": len(raw.body),
                "url_path": f"/thirdData/{raw.endpoint}",
            }
        )
    for request in facts.requests.values():
        stem = f"redex/request-{request.id:08d}"
        files[f"{stem}.json"] = request.payload.encode()
        if request.answer_body is not None:
            files[f"{stem}.answer.json"] = request.answer_body.encode()
        files[f"{stem}.meta.json"] = _json(
            {
                "request_id": request.id,
                "endpoint": "POST /public/v2/generation-datas/monthly-data",
                "begun_at": _iso(request.begun_at),
                "finished_at": _iso(request.finished_at),
                "answer_http_status": request.answer_status,
                "answered_at": _iso(request.answered_at),
            }
        )
    files.update(day_request_files(facts.day_requests.values()))
    for process_id, history in facts.statuses.items():
        files[f"redex/process-{process_id}.statuses.json"] = _json(
            [{"status": s.status, "seen_at": _iso(s.seen_at), "answer": s.body} for s in history]
        )
    for item in facts.inverters:
        files[f"inverters/{item.remote_inv_id}/{item.month}/derivation.json"] = _json(
            derivation(item, facts.raw)
        )
    files["summary.csv"] = summary_csv(facts.inverters, facts.raw)
    files["README.txt"] = (readme(facts.month, len(facts.inverters)) + DAILY_README).encode()
    files["SHA256SUMS"] = "".join(
        f"{sha256_hex(files[path])}  {path}\n" for path in sorted(files)
    ).encode()
    files["manifest.json"] = _json(
        {
            "month": str(facts.month),
            "inverters": sorted(i.remote_inv_id for i in facts.inverters),
            "files": {
                path: {"sha256": sha256_hex(data), "bytes": len(data)}
                for path, data in sorted(files.items())
            },
        }
    )
    return files


def zip_bytes(files: Mapping[str, bytes]) -> bytes:
    """The files as a zip with fixed order, timestamps and attributes: same input, same bytes."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path in sorted(files):
            info = zipfile.ZipInfo(path, date_time=ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3
            info.external_attr = 0o100644 << 16
            archive.writestr(info, files[path], compresslevel=9)
    return buffer.getvalue()


def derivation(item: InverterMonth, raw: Mapping[int, RawFile]) -> dict[str, Any]:
    """How the submitted value came to be, step by step, with the file of each answer."""
    reading = item.month_reading
    days_sum = sum((d.kwh for d in item.days), Decimal(0))
    document = {
        "remote_inv_id": item.remote_inv_id,
        "month": str(item.month),
        "source": item.source,
        "zone": item.zone,
        "state": item.state,
        "submitted": {
            "kwh": _dec(item.value_sent),
            "sent_at": _iso(item.sent_at),
            "process_id": item.process_id,
            "processing_status": item.processing_status,
            "accepted_kwh": _dec(item.accepted_kwh),
            "accepted_at": _iso(item.accepted_at),
            "drift_kwh": _dec(item.drift_kwh),
            "last_error": item.last_error,
        },
        "derivation": {
            "rule": (
                "the month value FusionSolar reported under `key` for this source, parsed "
                "exactly from `raw_value`, rounded half up to 3 decimals for REDEX"
            ),
            "kwh": _dec(reading.kwh),
            "kwh_rounded": _dec(round_kwh(reading.kwh)),
            **_reading_json(reading, raw),
        },
        "history": [
            {"kwh": _dec(h.kwh), "previous_kwh": _dec(h.previous_kwh), **_reading_json(h, raw)}
            for h in item.history
        ],
        "days": [
            {"date": str(d.period), "kwh": _dec(d.kwh), **_reading_json(d, raw)} for d in item.days
        ],
        "days_sum_kwh": _dec(days_sum) if item.days else None,
        "findings": [
            {"kind": kind, "period": period, "message": message}
            for kind, period, message in item.findings
        ],
        "redex_requests": [
            {
                "request": f"redex/request-{r.request_id:08d}.json",
                "kwh": _dec(r.kwh),
                "outcome": r.outcome,
                "process_id": r.process_id,
                "message": r.message,
                "statuses": f"redex/process-{r.process_id}.statuses.json"
                if r.process_id is not None
                else None,
            }
            for r in item.requests
        ],
        "irec_deadline": item.deadline.isoformat() if item.deadline else None,
        "frequency": "daily" if item.daily else "monthly",
    }
    if item.daily is not None:
        document["daily"] = daily_derivation(item.daily, lambda r: _reading_json(r, raw))
    return document


SUMMARY_COLUMNS = (
    "remote_inv_id",
    "month",
    "source",
    "state",
    "kwh_fetched",
    "kwh_submitted",
    "process_id",
    "processing_status",
    "raw_value",
    "raw_key",
    "raw_response",
    "raw_response_sha256",
    "redex_requests",
    "irec_deadline",
    "frequency",
    "days_sent",
)


def summary_csv(inverters: Sequence[InverterMonth], raw: Mapping[int, RawFile]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(SUMMARY_COLUMNS)
    for item in sorted(inverters, key=lambda i: i.remote_inv_id):
        reading = item.month_reading
        kept = raw.get(reading.raw_response_id) if reading.raw_response_id is not None else None
        writer.writerow(
            (
                item.remote_inv_id,
                str(item.month),
                item.source,
                item.state,
                _dec(reading.kwh),
                _dec(item.value_sent) or "",
                item.process_id or "",
                item.processing_status or "",
                reading.raw,
                reading.key,
                f"{kept.stem}.response.json" if kept else "",
                kept.sha256 if kept else "",
                " ".join(
                    [f"redex/request-{r.request_id:08d}.json" for r in item.requests]
                    + _day_requests(item.daily)
                ),
                item.deadline.isoformat() if item.deadline else "",
                "daily" if item.daily else "monthly",
                sum(1 for d in item.daily.days if d.facts.kwh_sent is not None)
                if item.daily
                else "",
            )
        )
    return out.getvalue().encode()


def readme(month: Month, inverters: int) -> str:
    return f"""fusionbridge evidence bundle for {month} ({inverters} remote inverters)

What each file is
-----------------
summary.csv
    One row per remote inverter: the kWh fetched from FusionSolar, the kWh submitted to REDEX,
    REDEX's ProcessId and processing status, the raw value and key the figure was read from, the
    FusionSolar answer that carried it (file and SHA-256) and the REDEX request files.
inverters/<RemoteInvId>/{month}/derivation.json
    How the submitted value was derived: the source (FusionSolar device or plant and KPI key),
    the raw value as Huawei wrote it, the rounding, every value the month ever had (history),
    the day values and their sum, the cross-check findings, each REDEX request that carried the
    month with its outcome, and the I-REC issuance deadline while the month is not accepted.
fusionsolar/<id>-<endpoint>.response.json
    A FusionSolar northbound answer exactly as received, byte for byte.
fusionsolar/<id>-<endpoint>.request.json
    The JSON body fusionbridge sent for it (the session token is not evidence and not kept).
fusionsolar/<id>-<endpoint>.meta.json
    Endpoint, fetch time (UTC) and the SHA-256 recorded when the answer arrived.
redex/request-<id>.json
    A REDEX monthly-data request body, the exact bytes sent.
redex/request-<id>.answer.json
    REDEX's answer to it as received (absent when none arrived); .meta.json: times and status.
redex/process-<ProcessId>.statuses.json
    Every processing status REDEX reported for that ProcessId, with the time first seen.
SHA256SUMS, manifest.json
    The SHA-256 of every file: SHA256SUMS for `sha256sum -c`, manifest.json for programs
    (each lists every file but itself; manifest.json also lists SHA256SUMS).

How to check a hash
-------------------
    sha256sum -c SHA256SUMS            (Linux; macOS: shasum -a 256 -c SHA256SUMS)
    certutil -hashfile FILE SHA256     (Windows, one file; compare with manifest.json)
Each fusionsolar/*.meta.json names the SHA-256 taken when the answer arrived: the .response.json
next to it must hash to the same value, which shows the bytes were not changed since.

How to trace a figure
---------------------
Open the inverter's derivation.json. `derivation.raw_response` names the FusionSolar answer;
find the record whose devId (device source) or stationCode (plant source) matches `source` and
whose collectTime is the month; `dataItemMap[key]` there is `raw_value`. Rounded half up to three
decimals it is `kwh_rounded`, which must equal `submitted.kwh` and the month's value in the
REDEX request named under `redex_requests` (RemoteInvId, Data.Year, the month's three-letter key).

The same ledger always yields the same bundle, byte for byte.
"""


def _reading_json(reading: TracedReading, raw: Mapping[int, RawFile]) -> dict[str, Any]:
    kept = raw.get(reading.raw_response_id) if reading.raw_response_id is not None else None
    note = None
    if kept is None:
        note = (
            "raw answer not kept (fetched before evidence was recorded)"
            if reading.raw_response_id is None
            else "raw answer pruned after storage.keep_raw_months"
        )
    return {
        "raw_value": reading.raw,
        "key": reading.key,
        "fetched_at": _iso(reading.fetched_at),
        "raw_response": f"{kept.stem}.response.json" if kept else None,
        "raw_response_sha256": kept.sha256 if kept else None,
        "raw_response_note": note,
    }


def _day_requests(daily: DailyMonth | None) -> list[str]:
    if daily is None:
        return []
    ids = sorted({i.request_id for d in daily.days for i in d.requests})
    return [f"{day_request_stem(i)}.json" for i in ids]


def _json(value: object) -> bytes:
    return (json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()


def _dec(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()
