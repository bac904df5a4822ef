"""sync: fetch exactly the month and day values the plan asks for, and record them with their checks."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from fusionbridge.app import Runtime
from fusionbridge.core import readings as aggregate
from fusionbridge.core.inverters import ResolvedInverter
from fusionbridge.core.models import KpiRow, Month, SourceKind, SourceRef
from fusionbridge.core.sync_plan import daily_sync_needs, plan_sync, range_sync_needs
from fusionbridge.evidence.raw import RawResponse, keep_since
from fusionbridge.fusionsolar import wire
from fusionbridge.jobs.baselines import take_baselines
from fusionbridge.jobs.progress import Progress
from fusionbridge.jobs.sources import ledger_view, nothing_configured, require_all, resolve
from fusionbridge.logs import get_logger

log = get_logger(__name__)


@dataclass(frozen=True)
class SyncReport:
    """What one sync fetched and found."""

    month_values: int
    day_values: int
    changed: int
    calls: int
    findings: tuple[aggregate.Finding, ...]
    unreachable: tuple[Month, ...]


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
    resolution = await resolve(rt)
    inverters = resolution.inverters
    if not inverters:
        require_all(resolution)  # entries that all named no source are an error, not "nothing"
        nothing_configured(rt.settings, "sync")
        return SyncReport(0, 0, 0, sum(rt.fusionsolar.calls.values()) - calls_before, (), ())
    now = rt.clock.now()
    if daily:
        runs = await rt.ledger.jobs.runs()
        last_success = runs["sync"].last_success_at if "sync" in runs else None
        needs = daily_sync_needs(
            inverters,
            await ledger_view(rt, inverters),
            now,
            last_success,
            recheck_months=rt.settings.schedule.correction_window_months,
        )
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
            rows, raw = await _fetch(rt, "month", batch, by_source, call.collect_at)
            saved, new, found = await _record(
                rt, rows, batch, by_source, set(call.months), monthly=True, raw=raw
            )
            month_values, changed = month_values + saved, changed + new
            findings.extend(found)
            progress.step(f"month values {call.year}: {_count(len(batch))}")
        for day_call, batch in day_rounds:
            rows, raw = await _fetch(rt, "day", batch, by_source, day_call.collect_at)
            saved, new, found = await _record(
                rt, rows, batch, by_source, {day_call.month}, monthly=False, raw=raw
            )
            day_values, changed = day_values + saved, changed + new
            findings.extend(found)
            progress.step(f"day values {day_call.month}: {_count(len(batch))}")
    finally:
        progress.close()
    await take_baselines(rt, inverters)  # daily inverters: the counter next to fresh day values
    findings.extend(
        await _cross_check(rt, inverters, needs_months={m for n in needs for m in n.months})
    )
    await _prune_raw(rt)
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
    require_all(resolution)
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
) -> tuple[list[KpiRow], list[RawResponse]]:
    """The KPI rows of `sources` and the raw answers they came in (one call per `call_batches`)."""
    devices = [by_source[s].device for s in sources if s.kind is SourceKind.DEVICE]
    plant_codes = sorted({s.id for s in sources if s.kind is SourceKind.PLANT})
    rows: list[KpiRow] = []
    raw: list[RawResponse] = []
    known_devices = [d for d in devices if d is not None]
    if known_devices:
        rows += await rt.fusionsolar.device_kpi(
            "month" if period == "month" else "day", known_devices, at, raw
        )
    if plant_codes:
        rows += await rt.fusionsolar.plant_kpi(
            "month" if period == "month" else "day", plant_codes, at, raw
        )
    return rows, raw


async def _record(
    rt: Runtime,
    rows: list[KpiRow],
    sources: Iterable[SourceRef],
    by_source: dict[SourceRef, ResolvedInverter],
    months: set[Month],
    *,
    monthly: bool,
    raw: Sequence[RawResponse] = (),
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
    changes = await rt.ledger.energy.save_readings(readings, raw)
    return len(readings), len(changes), findings


async def _cross_check(
    rt: Runtime, inverters: Sequence[ResolvedInverter], needs_months: set[Month]
) -> list[aggregate.Finding]:
    """Month vs sum of days, missing days, capacity: recorded for `status`, never hidden."""
    now = rt.clock.now()
    readings = await rt.ledger.energy.monthly({inv.source for inv in inverters})
    recorded = await rt.ledger.findings.load()
    findings: list[aggregate.Finding] = []
    for inverter in inverters:
        for month in sorted(needs_months):
            reading = readings.get((inverter.source, month))
            day_list = await rt.ledger.energy.daily(inverter.source, month)
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
                await rt.ledger.findings.replace(inverter.source, month, found, now)
            findings += found
    return findings


async def _prune_raw(rt: Runtime) -> None:
    """Raw answers older than `storage.keep_raw_months` go (SPEC §15); readings keep their ids."""
    keep = rt.settings.storage.keep_raw_months
    pruned = await rt.ledger.raw.prune_raw_responses(keep_since(rt.clock.now(), keep))
    if pruned:
        log.info("evidence.pruned", raw_responses=pruned, keep_raw_months=keep)


def _count(sources: int) -> str:
    return "1 source" if sources == 1 else f"{sources} sources"
