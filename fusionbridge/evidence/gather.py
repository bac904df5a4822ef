"""Collect one month's evidence from the ledger (read only: no lease, no network)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from fusionbridge.core.inverters import resolve_inverters
from fusionbridge.core.models import Month
from fusionbridge.daemon.status import ledger_status
from fusionbridge.errors import FusionBridgeError
from fusionbridge.evidence.bundle import (
    BundleFacts,
    InverterMonth,
    RawFile,
    RequestFile,
    RequestItem,
    StatusSeen,
)
from fusionbridge.evidence.day_facts import DailyMonth, day_process_ids
from fusionbridge.evidence.day_gather import gather_daily
from fusionbridge.settings import Settings
from fusionbridge.store import Ledger, PushRequest


class EvidenceMissing(FusionBridgeError):
    """The ledger lacks what a bundle needs (a month never fetched); names what is missing."""


async def gather(
    settings: Settings, ledger: Ledger, month: Month, now: datetime, inverter: str | None = None
) -> BundleFacts:
    """The facts of `month` for every configured inverter (or one), or EvidenceMissing."""
    entries = [
        e for e in settings.inverter_entries() if inverter is None or e.remote_inv_id == inverter
    ]
    if inverter is not None and not entries:
        raise EvidenceMissing(f"no [[inverters]] entry has remote_inv_id {inverter!r}")
    if inverter is None:  # an inverter that starts later has nothing to show for this month
        entries = [e for e in entries if e.start_month is None or e.start_month <= month]
    if not entries:
        raise EvidenceMissing(f"no configured inverter submits {month}")
    inventory = await ledger.inventory.load_every_account()
    resolved = {
        r.remote_inv_id: r
        for r in resolve_inverters(
            entries, inventory.plants, inventory.devices, settings.timezone
        ).inverters
    }
    lines = {
        (inv.remote_inv_id, line.month): line
        for inv in await ledger_status(settings, ledger, now)
        for line in inv.months
    }
    records = {(r.remote_inv_id, r.month): r for r in await ledger.submissions.records()}
    findings = await ledger.findings.load()
    log = await ledger.submissions.request_log()
    carried: dict[tuple[str, Month], list[RequestItem]] = {}
    for request in log:
        for item in request.items:
            if item.month == month:
                carried.setdefault((item.remote_inv_id, month), []).append(
                    RequestItem(request.id, item.kwh, item.outcome, item.process_id, item.message)
                )
    traces = await ledger.raw.traces((r.source for r in resolved.values()), month)
    day_lines = {}
    for entry in entries:
        found = resolved.get(entry.remote_inv_id)
        if found is not None and found.target.daily:
            line = lines.get((entry.remote_inv_id, month))
            day_lines[entry.remote_inv_id] = line.days or () if line else ()
    daily, day_requests = await gather_daily(
        ledger,
        month,
        day_lines,
        {i: traces[r.source].days for i, r in resolved.items() if r.target.daily},
    )
    missing: list[str] = []
    months: list[InverterMonth] = []
    for entry in entries:
        found = resolved.get(entry.remote_inv_id)
        if found is None:
            missing.append(f"{entry.remote_inv_id} ({entry.describe()} not in the inventory)")
            continue
        trace = traces[found.source]
        if trace.month is None:
            missing.append(f"{entry.remote_inv_id} ({found.source})")
            continue
        record = records.get((entry.remote_inv_id, month))
        line = lines.get((entry.remote_inv_id, month))
        items = tuple(carried.get((entry.remote_inv_id, month), ()))
        months.append(
            InverterMonth(
                remote_inv_id=entry.remote_inv_id,
                month=month,
                source=str(found.source),
                zone=found.target.zone.key,
                state=line.state.value if line else "fetched",
                month_reading=trace.month,
                days=trace.days,
                history=trace.history,
                findings=tuple(
                    (f.kind.value, str(f.period), f.message)
                    for f in findings.get((found.source, month), [])
                ),
                value_sent=record.value_sent if record else None,
                sent_at=record.sent_at if record else None,
                process_id=record.process_id if record else None,
                processing_status=record.processing_status if record else None,
                accepted_kwh=record.accepted_kwh if record else None,
                accepted_at=record.accepted_at if record else None,
                drift_kwh=record.drift_kwh if record else None,
                last_error=record.last_error if record else None,
                requests=items,
                deadline=line.deadline if line else None,
            )
        )
        days = daily.get(entry.remote_inv_id)
        if days is not None:  # submitted day by day: the month is the sum of its days
            months[-1] = _as_daily(months[-1], days)
    if missing:
        raise EvidenceMissing(
            f"{month} was never fetched for {', '.join(missing)}; "
            f"run: fusionbridge sync --from {month} --to {month}"
        )
    facts = await _shared_files(ledger, month, months, log, day_process_ids(list(daily.values())))
    return replace(facts, day_requests=day_requests)


def _as_daily(item: InverterMonth, days: DailyMonth) -> InverterMonth:
    return replace(item, daily=days, value_sent=days.sent_kwh, accepted_kwh=days.accepted_kwh)


async def _shared_files(
    ledger: Ledger,
    month: Month,
    months: list[InverterMonth],
    log: list[PushRequest],
    day_process_ids: set[int],
) -> BundleFacts:
    raw_ids = {
        r.raw_response_id
        for m in months
        for r in (m.month_reading, *m.days, *m.history, *(m.daily.readings() if m.daily else ()))
        if r.raw_response_id is not None
    }
    raw = {
        stored.id: RawFile(
            stored.id,
            stored.endpoint,
            stored.request,
            stored.fetched_at,
            stored.sha256,
            stored.body,
        )
        for stored in await ledger.raw.raw_responses(raw_ids)
    }
    request_ids = {item.request_id for m in months for item in m.requests}
    process_ids = (
        {item.process_id for m in months for item in m.requests}
        | {m.process_id for m in months}
        | day_process_ids
    )
    answers = await ledger.redex_log.answers(request_ids)
    requests = {}
    for request in log:
        if request.id not in request_ids:
            continue
        answer = answers.get(request.id)
        requests[request.id] = RequestFile(
            request.id,
            request.payload_json,
            request.begun_at,
            request.finished_at,
            answer.http_status if answer else None,
            answer.body if answer else None,
            answer.received_at if answer else None,
        )
    history = await ledger.redex_log.status_history(p for p in process_ids if p is not None)
    statuses = {
        process_id: [StatusSeen(s.status, s.body, s.seen_at) for s in seen]
        for process_id, seen in history.items()
    }
    return BundleFacts(month, months, raw, requests, statuses)
