"""Read the page's facts from the ledger only: never a call upstream, whatever the request."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from fusionbridge.core.deadlines import issue_deadline
from fusionbridge.core.due import describe_month
from fusionbridge.core.inverters import ResolvedInverter, Target, resolve_inverters
from fusionbridge.core.models import EnergyReading, Month, Plant, SourceRef, SubmissionState
from fusionbridge.core.readings import Finding
from fusionbridge.daemon.status import MonthLine, daily_month_lines
from fusionbridge.jobs.sources import month_record
from fusionbridge.page.facts import (
    AccountFacts,
    InverterFacts,
    JobFacts,
    MonthFacts,
    PageFacts,
    PlantFacts,
)
from fusionbridge.page.view import MONTHS_SHOWN
from fusionbridge.settings import Settings
from fusionbridge.store import Ledger
from fusionbridge.store.job_runs import JobRun
from fusionbridge.store.live import SubmissionState as StoredState
from fusionbridge.store.submissions import SubmissionRecord


def plant_code_of(inverter: ResolvedInverter) -> str | None:
    """The plant an inverter's energy comes from: the plant source, or the device's plant."""
    if inverter.plant is not None:
        return inverter.plant.code
    if inverter.device is not None:
        return inverter.device.plant_code
    return None


async def read_page_facts(
    settings: Settings,
    ledger: Ledger,
    now: datetime,
    *,
    version: str,
    failing: Sequence[str],
    next_runs: Mapping[str, datetime | None],
) -> PageFacts:
    """One consistent read of everything the page shows."""
    inventory = await ledger.inventory.load_every_account()
    resolution = await asyncio.to_thread(
        resolve_inverters,
        settings.inverter_entries(),
        inventory.plants,
        inventory.devices,
        settings.timezone,
    )
    resolved = {r.target.remote_inv_id: r for r in resolution.inverters}
    first = min(
        (Month.containing(now, e.zone(settings.timezone)) for e in settings.inverter_entries()),
        default=Month.containing(now, ZoneInfo(settings.timezone)),
    ).shift(-MONTHS_SHOWN)
    readings = await ledger.live.monthly_since({r.source for r in resolved.values()}, first)
    records = {(r.remote_inv_id, r.month): r for r in await ledger.live.readable_submissions()}
    raw_states = await ledger.live.submission_states()
    findings = await ledger.findings.load()
    daily = await daily_month_lines(ledger, resolution.inverters, now, settings)
    inverters = await asyncio.to_thread(
        _inverter_facts,
        settings,
        resolved,
        readings,
        records,
        raw_states,
        findings,
        daily,
        now,
        inventory_known=inventory.refreshed_at is not None,
    )
    every = await ledger.jobs.every_account()
    runs = _worst_of_each_job(every)
    return PageFacts(
        now=now,
        zone=ZoneInfo(settings.timezone),
        version=version,
        failing=tuple(failing),
        jobs={
            name: JobFacts(run.last_success_at, run.last_failure_at, run.last_error, run.running)
            for name, run in runs.items()
        },
        next_runs=next_runs,
        calls_today=await _calls_today(
            ledger, sorted(set(every) | {ledger.account}), now, ZoneInfo(settings.timezone)
        ),
        inverters=inverters,
        plants=await _plants(ledger, _plant_zones(inverters), inventory.plants, now),
        live_interval_min=settings.live.interval_min,
        accounts=await _accounts(ledger, settings, now),
    )


async def _accounts(ledger: Ledger, settings: Settings, now: datetime) -> list[AccountFacts]:
    """Who last held each account's lease (SPEC §14), from the ledger alone."""
    workers = await ledger.leases.workers(
        settings.account_names(), now, settings.storage.lease_ttl_s
    )
    return [
        AccountFacts(
            name,
            held.holder if held is not None else None,
            held.taken_at if held is not None else None,
            working,
        )
        for name, (held, working) in workers.items()
    ]


def _worst_of_each_job(every: Mapping[str, Mapping[str, JobRun]]) -> dict[str, JobRun]:
    """Per job, the account whose last success is oldest: the page must not hide a stale one."""
    worst: dict[str, JobRun] = {}
    for runs in every.values():
        for name, run in runs.items():
            kept = worst.get(name)
            if kept is None or _success_key(run) < _success_key(kept):
                worst[name] = run
    return worst


def _success_key(run: JobRun) -> datetime:
    return run.last_success_at or datetime.min.replace(tzinfo=UTC)


async def _calls_today(
    ledger: Ledger, accounts: Sequence[str], now: datetime, zone: ZoneInfo
) -> dict[str, int]:
    """Requests per endpoint counted today in every account's pacing records, summed."""
    today = now.astimezone(zone).date()
    calls: Counter[str] = Counter()
    for account in accounts:
        states = await ledger.for_account(account).pacing.load_endpoints()
        calls.update(
            {
                name: s.calls_on_day
                for name, s in states.items()
                if s.day == today and s.calls_on_day
            }
        )
    return dict(calls)


def _plant_zones(inverters: Sequence[InverterFacts]) -> dict[str, ZoneInfo]:
    zones: dict[str, ZoneInfo] = {}
    for inverter in inverters:
        if inverter.plant_code is not None:
            zones.setdefault(inverter.plant_code, inverter.zone)
    return zones


async def plant_facts(settings: Settings, ledger: Ledger, now: datetime) -> list[PlantFacts]:
    """The live figures of the configured inverters' plants, for /status and the metrics."""
    inventory = await ledger.inventory.load_every_account()
    resolution = resolve_inverters(
        settings.inverter_entries(), inventory.plants, inventory.devices, settings.timezone
    )
    zones: dict[str, ZoneInfo] = {}
    for inverter in resolution.inverters:
        code = plant_code_of(inverter)
        if code is not None:
            zones.setdefault(code, inverter.target.zone)
    return await _plants(ledger, zones, inventory.plants, now)


async def _plants(
    ledger: Ledger, zones: Mapping[str, ZoneInfo], plants: Sequence[Plant], now: datetime
) -> list[PlantFacts]:
    names = {p.code: p.name for p in plants}
    live = await ledger.live.plant_live()
    yearly = await ledger.live.yearly()
    hourly = await ledger.live.hourly_since(now - timedelta(hours=26))
    result = []
    for code in sorted(zones, key=lambda c: (names.get(c, c), c)):
        zone = zones[code]
        today = now.astimezone(zone).date()
        hours = {
            v.hour_start.astimezone(zone).hour: v.kwh
            for v in hourly.get(code, [])
            if v.hour_start.astimezone(zone).date() == today
        }
        reading = live.get(code)
        years = yearly.get(code, [])
        lifetime = reading.lifetime_kwh if reading else None
        if lifetime is None and years:
            lifetime = sum((y.kwh for y in years), Decimal(0))
        result.append(
            PlantFacts(
                code=code,
                name=names.get(code, code),
                zone=zone,
                today_kwh=reading.today_kwh if reading else None,
                lifetime_kwh=lifetime,
                health=reading.health if reading else None,
                fetched_at=reading.fetched_at if reading else None,
                hours=hours,
            )
        )
    return result


def _inverter_facts(
    settings: Settings,
    resolved: Mapping[str, ResolvedInverter],
    readings: Mapping[tuple[SourceRef, Month], EnergyReading],
    records: Mapping[tuple[str, Month], SubmissionRecord],
    raw_states: Mapping[tuple[str, str], StoredState],
    findings: Mapping[tuple[SourceRef, Month], list[Finding]],
    daily: Mapping[str, Mapping[Month, MonthLine]],
    now: datetime,
    *,
    inventory_known: bool,
) -> list[InverterFacts]:
    """Each configured inverter's last 13 months as states: pure, so it runs off the loop."""
    known = {s.value for s in SubmissionState}
    inverters: list[InverterFacts] = []
    for entry in settings.inverter_entries():
        target = Target.from_entry(entry, settings.timezone)
        found = resolved.get(entry.remote_inv_id)
        current = Month.containing(now, target.zone)
        months: dict[Month, MonthFacts] = {}
        for month in (current.shift(o) for o in range(1 - MONTHS_SHOWN, 1)):
            if target.daily:  # a daily inverter's month is the sum and worst state of its days
                line = daily.get(entry.remote_inv_id, {}).get(month)
                if line is not None:
                    months[month] = MonthFacts(
                        month, line.kwh, line.state.value, line.drift_kwh,
                        line.last_error or line.days_note, (),
                        issue_deadline(month, settings.irec.deadlines),
                    )  # fmt: skip
                continue
            reading = readings.get((found.source, month)) if found else None
            raw = raw_states.get((entry.remote_inv_id, str(month)))
            record = records.get((entry.remote_inv_id, month))
            if reading is None and raw is None:
                continue
            notes = (
                tuple(f.message for f in findings.get((found.source, month), [])) if found else ()
            )
            if raw is not None and raw.state not in known:
                months[month] = MonthFacts(
                    month, reading.kwh if reading else None, raw.state, raw.drift_kwh,
                    raw.last_error, notes, issue_deadline(month, settings.irec.deadlines),
                )  # fmt: skip
                continue
            described = describe_month(
                target, month, month_record(reading, record), now, settings.schedule.rules()
            )
            drift = described.drift_kwh if described.drift_kwh is not None else (
                record.drift_kwh if record else None
            )  # fmt: skip
            months[month] = MonthFacts(
                month, reading.kwh if reading else None, described.state.value, drift,
                record.last_error if record else None, notes,
                issue_deadline(month, settings.irec.deadlines),
            )  # fmt: skip
        inverters.append(
            InverterFacts(
                remote_inv_id=entry.remote_inv_id,
                source=str(found.source) if found else entry.describe(),
                zone=target.zone,
                plant_code=plant_code_of(found) if found else None,
                months=months,
                resolved=found is not None or not inventory_known,
            )
        )
    return inverters
