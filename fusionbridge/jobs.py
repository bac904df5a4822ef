"""The two use cases: sync (FusionSolar → ledger) and push (ledger → REDEX), both idempotent.

Each run recomputes what to do from the ledger and `now`, so a failed or killed run is simply
run again. REDEX does not document what a re-sent month does; fusionbridge assumes the last
submission for a (RemoteInvId, Year, month) overwrites the earlier one. That assumption lives
here: a changed month within the correction window is re-sent in full, never as a delta.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TextIO

from fusionbridge import aggregate
from fusionbridge.fusionsolar import wire
from fusionbridge.logs import get_logger
from fusionbridge.mapping import ResolvedInverter, Target, resolve_inverters
from fusionbridge.models import KpiRow, Month, SourceKind, SourceRef, SubmissionState, round_kwh
from fusionbridge.planning import (
    LedgerView,
    MonthRecord,
    daily_sync_needs,
    plan_sync,
    range_sync_needs,
)
from fusionbridge.progress import Progress
from fusionbridge.push_plan import Drift, PushItem, plan_push
from fusionbridge.redex.client import ItemOutcome
from fusionbridge.redex.wire import MonthlyItem, batches, dumps_payload
from fusionbridge.runtime import Runtime
from fusionbridge.store.inventory import Inventory
from fusionbridge.store.submissions import Failed, Pending, Rejected, Sent

log = get_logger(__name__)

INVENTORY_MAX_AGE = timedelta(days=1)
"""Huawei's device list changes rarely and costs daily quota: refresh it at most daily."""

STANDING_PROBLEMS = (SubmissionState.REJECTED, SubmissionState.FAILED)


@dataclass(frozen=True)
class SyncReport:
    """What one sync fetched and found."""

    month_values: int
    day_values: int
    changed: int
    calls: int
    findings: tuple[aggregate.Finding, ...]
    unreachable: tuple[Month, ...]


@dataclass(frozen=True)
class PushReport:
    """What one push sent and learnt; `standing_problems` makes `push` exit 1."""

    items: int
    sent: int
    rejected: int
    failed: int
    pending: int
    accepted: int
    processing: int
    drift: tuple[Drift, ...]
    standing_problems: int
    not_due: tuple[str, ...] = ()


# --- inventory and mapping ---------------------------------------------------------------------


async def load_inventory(rt: Runtime, *, refresh: bool = False) -> Inventory:
    """The cached plant and device list, refreshed from FusionSolar when older than a day."""
    cached = await rt.ledger.inventory()
    now = rt.clock.now()
    fresh = cached.refreshed_at is not None and now - cached.refreshed_at < INVENTORY_MAX_AGE
    if fresh and not refresh:
        return cached
    plants = await rt.fusionsolar.plants()
    devices = await rt.fusionsolar.devices([p.code for p in plants]) if plants else []
    await rt.ledger.save_inventory(plants, devices, rt.clock.now())
    log.info("inventory.refreshed", plants=len(plants), devices=len(devices))
    return await rt.ledger.inventory()


async def resolve(rt: Runtime, inventory: Inventory | None = None) -> tuple[ResolvedInverter, ...]:
    """Every configured inverter joined to its FusionSolar source; SourceNotFoundError otherwise."""
    settings = rt.settings
    if inventory is None:
        inventory = await load_inventory(rt)
    resolution = resolve_inverters(
        settings.inverters, inventory.plants, inventory.devices, settings.timezone
    )
    stale = inventory.refreshed_at is not None and (
        rt.clock.now() - inventory.refreshed_at > timedelta(hours=1)
    )
    if resolution.problems and stale:
        # A newly installed inverter is missing from an older list: look once more.
        inventory = await load_inventory(rt, refresh=True)
        resolution = resolve_inverters(
            settings.inverters, inventory.plants, inventory.devices, settings.timezone
        )
    return resolution.require()


async def ledger_view(rt: Runtime, inverters: Sequence[ResolvedInverter]) -> LedgerView:
    """Per remote inverter and month: the value known, and what was sent and accepted."""
    readings = await rt.ledger.monthly({inv.source for inv in inverters})
    records = await rt.ledger.submissions([inv.remote_inv_id for inv in inverters])
    by_key = {(r.remote_inv_id, r.month): r for r in records}
    months_of: defaultdict[SourceRef | str, set[Month]] = defaultdict(set)
    for source, month in readings:
        months_of[source].add(month)
    for remote_inv_id, month in by_key:
        months_of[remote_inv_id].add(month)
    view: dict[str, dict[Month, MonthRecord]] = {}
    for inverter in inverters:
        months: dict[Month, MonthRecord] = {}
        for month in months_of[inverter.source] | months_of[inverter.remote_inv_id]:
            reading = readings.get((inverter.source, month))
            record = by_key.get((inverter.remote_inv_id, month))
            in_flight = record is not None and record.state in (
                SubmissionState.SENDING,
                SubmissionState.DUE,
            )
            months[month] = MonthRecord(
                kwh=reading.kwh if reading else None,
                fetched_at=reading.fetched_at if reading else None,
                state=record.state if record else None,
                sent_kwh=(record.requested_kwh if in_flight else record.value_sent)
                if record
                else None,
                accepted_kwh=record.accepted_kwh if record else None,
            )
        view[inverter.remote_inv_id] = months
    return view


# --- sync ---------------------------------------------------------------------------------------


async def sync(
    rt: Runtime,
    *,
    first: Month | None = None,
    last: Month | None = None,
    days: bool = False,
    daily: bool = False,
) -> SyncReport:
    """Fetch exactly the month and day values the plan needs, and record them with their checks."""
    calls_before = sum(rt.fusionsolar.calls.values())  # the inventory and a login count too
    inverters = await resolve(rt)
    if not inverters:
        log.warning("sync.nothing_configured")
        return SyncReport(0, 0, 0, sum(rt.fusionsolar.calls.values()) - calls_before, (), ())
    now = rt.clock.now()
    if daily:
        runs = await rt.ledger.job_runs()
        last_success = runs["sync"].last_success_at if "sync" in runs else None
        needs = daily_sync_needs(inverters, await ledger_view(rt, inverters), now, last_success)
    else:
        needs = range_sync_needs(inverters, now, first, last, all_days=days)
    plan = plan_sync(needs, now)
    if plan.unreachable:
        log.warning(
            "sync.unreachable",
            months=[str(m) for m in plan.unreachable],
            reason="older than 365 days",
        )
    by_source = {inv.source: inv for inv in inverters}
    rounds = [
        (call, batch)
        for call in plan.month_calls
        for batch in call_batches(call.sources, by_source)
    ]
    day_rounds = [
        (call, batch) for call in plan.day_calls for batch in call_batches(call.sources, by_source)
    ]
    progress = Progress("sync.step", len(rounds) + len(day_rounds))
    findings: list[aggregate.Finding] = []
    month_values = day_values = changed = 0
    try:
        # One call, one commit: a sync cut short keeps every paced call it already made.
        for call, batch in rounds:
            rows = await _fetch(rt, "month", batch, by_source, call.collect_at)
            saved, new, found = await _record(
                rt, rows, batch, by_source, set(call.months), monthly=True
            )
            month_values, changed = month_values + saved, changed + new
            findings.extend(found)
            progress.step(f"month values {call.year} ({len(batch)} sources)")
        for day_call, batch in day_rounds:
            rows = await _fetch(rt, "day", batch, by_source, day_call.collect_at)
            saved, new, found = await _record(
                rt, rows, batch, by_source, {day_call.month}, monthly=False
            )
            day_values, changed = day_values + saved, changed + new
            findings.extend(found)
            progress.step(f"day values {day_call.month} ({len(batch)} sources)")
    finally:
        progress.close()
    findings.extend(
        await _cross_check(rt, inverters, needs_months={m for n in needs for m in n.months})
    )
    for finding in findings:
        log.warning(
            "sync.finding",
            kind=finding.kind.value,
            source=str(finding.source),
            period=str(finding.period),
            detail=finding.message,
        )
    report = SyncReport(
        month_values,
        day_values,
        changed,
        sum(rt.fusionsolar.calls.values()) - calls_before,
        tuple(findings),
        plan.unreachable,
    )
    log.info(
        "sync.finished",
        month_values=report.month_values,
        day_values=report.day_values,
        changed=report.changed,
        calls=report.calls,
        findings=len(report.findings),
    )
    return report


def call_batches(
    sources: Iterable[SourceRef], by_source: dict[SourceRef, ResolvedInverter]
) -> list[tuple[SourceRef, ...]]:
    """Sources cut into what FusionSolar takes in one call: ≤100 devices of one type, ≤100 plants."""
    devices: defaultdict[int, list[SourceRef]] = defaultdict(list)
    plants: defaultdict[str, list[SourceRef]] = defaultdict(list)
    for source in sources:
        device = by_source[source].device
        if source.kind is SourceKind.PLANT:
            plants[source.id].append(source)
        elif device is not None:
            devices[device.type_id].append(source)
    batches = [
        tuple(batch)
        for type_id in sorted(devices)
        for batch in wire.chunked(devices[type_id], wire.MAX_DEVICES_PER_CALL)
    ]
    batches += [
        tuple(source for code in codes for source in plants[code])
        for codes in wire.chunked(sorted(plants), wire.MAX_PLANTS_PER_CALL)
    ]
    return batches


async def _fetch(
    rt: Runtime,
    period: str,
    sources: Iterable[SourceRef],
    by_source: dict[SourceRef, ResolvedInverter],
    at: datetime,
) -> list[KpiRow]:
    """The KPI rows of `sources`: one FusionSolar call when they come from `call_batches`."""
    devices = [by_source[s].device for s in sources if s.kind is SourceKind.DEVICE]
    plant_codes = sorted({s.id for s in sources if s.kind is SourceKind.PLANT})
    rows: list[KpiRow] = []
    known_devices = [d for d in devices if d is not None]
    if known_devices:
        rows += await rt.fusionsolar.device_kpi(
            "month" if period == "month" else "day", known_devices, at
        )
    if plant_codes:
        rows += await rt.fusionsolar.plant_kpi(
            "month" if period == "month" else "day", plant_codes, at
        )
    return rows


async def _record(
    rt: Runtime,
    rows: list[KpiRow],
    sources: Iterable[SourceRef],
    by_source: dict[SourceRef, ResolvedInverter],
    months: set[Month],
    *,
    monthly: bool,
) -> tuple[int, int, list[aggregate.Finding]]:
    """Turn rows into readings for the asked months, save them in one transaction."""
    fetched_at = rt.clock.now()
    readings = []
    findings: list[aggregate.Finding] = []
    rows_of: defaultdict[str, list[KpiRow]] = defaultdict(list)
    for row in rows:
        rows_of[row.object_id].append(row)
    for source in sources:
        zone = by_source[source].zone
        made = (aggregate.month_readings if monthly else aggregate.day_readings)(
            rows_of[source.id], source, zone, fetched_at
        )
        readings += [
            r
            for r in made.readings
            if (r.period if isinstance(r.period, Month) else Month.of(r.period)) in months
        ]
        findings += made.findings
    changes = await rt.ledger.save_readings(readings)
    return len(readings), len(changes), findings


async def _cross_check(
    rt: Runtime, inverters: Sequence[ResolvedInverter], needs_months: set[Month]
) -> list[aggregate.Finding]:
    """Month vs sum of days, missing days, capacity: recorded for `status`, never hidden."""
    now = rt.clock.now()
    readings = await rt.ledger.monthly({inv.source for inv in inverters})
    recorded = await rt.ledger.findings()
    findings: list[aggregate.Finding] = []
    for inverter in inverters:
        for month in sorted(needs_months):
            reading = readings.get((inverter.source, month))
            day_list = await rt.ledger.daily(inverter.source, month)
            days = {r.period: r.kwh for r in day_list if not isinstance(r.period, Month)} or None
            found = aggregate.check_month(
                inverter.source,
                month,
                inverter.zone,
                now,
                month_kwh=reading.kwh if reading else None,
                days=days,
                capacity_kwp=inverter.capacity_kwp,
            )
            # One committed transaction per unchanged check adds up to minutes on an SD card.
            if set(found) != set(recorded.get((inverter.source, month), ())):
                await rt.ledger.replace_findings(inverter.source, month, found, now)
            findings += found
    return findings


# --- push ---------------------------------------------------------------------------------------


def monthly_item(item: PushItem) -> MonthlyItem:
    """The REDEX item for a planned (inverter, year): months not due stay null."""
    return MonthlyItem(
        item.remote_inv_id,
        item.year,
        {number: value for number, value in enumerate(item.values, start=1) if value is not None},
    )


def _months_of(item: MonthlyItem) -> list[tuple[str, Month, Decimal]]:
    return [
        (item.remote_inv_id, Month(item.year, number), round_kwh(value))
        for number, value in sorted(item.kwh.items())
        if value is not None
    ]


def _ledger_outcome(outcome: ItemOutcome) -> Sent | Rejected | Failed | Pending:
    if outcome.status == "sent" and outcome.process_id is not None:
        return Sent(outcome.process_id)
    if outcome.status == "rejected":
        return Rejected(outcome.message or "rejected by REDEX")
    if outcome.status == "failed":
        return Failed(outcome.message or "refused by REDEX")
    return Pending(outcome.message or "no answer from REDEX")


async def push(
    rt: Runtime,
    *,
    month: Month | None = None,
    force: bool = False,
    dry_run: bool = False,
    wait_s: float = 120.0,
    out: TextIO | None = None,
) -> PushReport:
    """Send every due, unsent or changed month, then follow REDEX processing for up to `wait_s`."""
    settings = rt.settings
    if not settings.inverters:
        log.warning("push.nothing_configured")
    if not dry_run:
        await _recover(rt)
        await _poll(rt, await rt.ledger.open_process_ids(), wait_s=0)
    # The months to send are in the ledger: a FusionSolar outage must not hold REDEX back.
    cached = await rt.ledger.inventory()
    inverters = await resolve(rt, cached if cached.refreshed_at is not None else None)
    targets = [Target.from_settings(e, settings.timezone) for e in settings.inverters]
    now = rt.clock.now()
    plan = plan_push(
        targets, await ledger_view(rt, inverters), now, settings.schedule, month=month, force=force
    )
    if not dry_run:
        await _record_drift(rt, plan.drift)
    for remote_inv_id in plan.not_due:
        log.warning("push.month_not_due", inverter=remote_inv_id, month=str(month))
    items = [monthly_item(i) for i in plan.items]
    if dry_run:
        for batch in batches(items, settings.redex.batch_size):
            print(dumps_payload(batch), file=out)
        return PushReport(len(items), 0, 0, 0, 0, 0, 0, plan.drift, 0, plan.not_due)

    request: dict[str, int] = {}

    async def before_send(batch: Sequence[MonthlyItem]) -> None:
        months = [row for item in batch for row in _months_of(item)]
        request["id"] = await rt.ledger.begin_request(months, dumps_payload(batch), rt.clock.now())

    async def after_send(outcomes: Sequence[ItemOutcome]) -> None:
        per_month = {
            (inv, m): _ledger_outcome(outcome)
            for outcome in outcomes
            for inv, m, _ in _months_of(outcome.item)
        }
        await rt.ledger.finish_request(request["id"], per_month, rt.clock.now())
        for outcome in outcomes:
            if outcome.status in ("rejected", "failed"):
                log.warning(
                    "push.item_refused",
                    inverter=outcome.item.remote_inv_id,
                    year=outcome.item.year,
                    outcome=outcome.status,
                    error=outcome.message,
                )

    outcomes = (
        await rt.redex.submit(items, before_send=before_send, after_send=after_send)
        if items
        else []
    )
    counts = {
        s: sum(1 for o in outcomes if o.status == s)
        for s in ("sent", "rejected", "failed", "pending")
    }
    statuses = await _poll(rt, await rt.ledger.open_process_ids(), wait_s=wait_s)
    records = await rt.ledger.submissions([t.remote_inv_id for t in targets])
    report = PushReport(
        items=len(items),
        sent=counts["sent"],
        rejected=counts["rejected"],
        failed=counts["failed"],
        pending=counts["pending"],
        accepted=sum(1 for s in statuses.values() if s == "Success"),
        processing=sum(1 for s in statuses.values() if s not in ("Success", "Failed")),
        drift=plan.drift,
        standing_problems=sum(1 for r in records if r.state in STANDING_PROBLEMS),
        not_due=plan.not_due,
    )
    log.info(
        "push.finished",
        items=report.items,
        sent=report.sent,
        rejected=report.rejected,
        failed=report.failed,
        pending=report.pending,
        accepted=report.accepted,
        processing=report.processing,
        standing_problems=report.standing_problems,
    )
    return report


async def _recover(rt: Runtime) -> None:
    """Close requests a crash left open: their months are due again and go out once more."""
    for request in await rt.ledger.in_flight():
        await rt.ledger.abandon_request(
            request.id, rt.clock.now(), "interrupted before REDEX answered; sending again"
        )
        log.warning("push.recovered", request_id=request.id, months=len(request.items))


async def _poll(rt: Runtime, process_ids: Sequence[int], *, wait_s: float) -> dict[int, str]:
    """Follow processing to Success/Failed within `wait_s`, recording every status seen."""
    if not process_ids:
        return {}
    statuses = await rt.redex.follow(process_ids, wait_s=wait_s)
    for process_id, status in statuses.items():
        message = "REDEX processing ended Failed" if status == "Failed" else None
        settled = await rt.ledger.record_processing(process_id, status, rt.clock.now(), message)
        for inverter, month in settled:
            event = "push.accepted" if status == "Success" else "push.rejected"
            log.info(event, inverter=inverter, month=str(month), process_id=process_id)
    return statuses


async def _record_drift(rt: Runtime, drift: Sequence[Drift]) -> None:
    now = rt.clock.now()
    current = {(d.remote_inv_id, d.month): d.difference_kwh for d in drift}
    for record in await rt.ledger.submissions():
        key = (record.remote_inv_id, record.month)
        wanted = current.get(key)
        if wanted != record.drift_kwh:
            await rt.ledger.set_drift(record.remote_inv_id, record.month, wanted, now)
            if wanted is not None:
                log.warning(
                    "push.drift",
                    inverter=record.remote_inv_id,
                    month=str(record.month),
                    drift_kwh=str(wanted),
                )
