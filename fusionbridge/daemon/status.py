"""What the ledger says per remote inverter and month, for `status`, `status --json` and /status.

Reads only the ledger (no network), so it answers even when both upstreams are down.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from fusionbridge.core.daily_plan import DayLine, day_ended, month_summary
from fusionbridge.core.deadlines import days_left, issue_deadline
from fusionbridge.core.due import describe_month
from fusionbridge.core.inverters import ResolvedInverter, Target, resolve_inverters
from fusionbridge.core.models import EnergyReading, Month, SourceRef, SubmissionState
from fusionbridge.core.readings import Finding
from fusionbridge.jobs.push_daily import daily_plans
from fusionbridge.jobs.sources import month_record
from fusionbridge.settings import InverterSettings, Settings
from fusionbridge.store import Ledger
from fusionbridge.store.submissions import SubmissionRecord


@dataclass(frozen=True)
class MonthLine:
    """One inverter-month as an operator reads it."""

    month: Month
    kwh: Decimal | None
    state: SubmissionState
    process_id: int | None
    processing_status: str | None
    drift_kwh: Decimal | None
    last_error: str | None
    findings: tuple[str, ...]
    days: tuple[DayLine, ...] | None = None  # a daily inverter's days (SPEC §11)
    days_note: str | None = None
    deadline: date | None = None
    """The I-REC issuance deadline while the month is not accepted (SPEC §15)."""
    days_left: int | None = None

    def as_json(self) -> dict[str, Any]:
        document: dict[str, Any] = {
            "month": str(self.month),
            "kwh": _text(self.kwh),
            "state": self.state.value,
            "process_id": self.process_id,
            "processing_status": self.processing_status,
            "drift_kwh": _text(self.drift_kwh),
            "last_error": self.last_error,
            "findings": list(self.findings),
            "deadline": self.deadline.isoformat() if self.deadline else None,
            "deadline_days_left": self.days_left,
        }
        if self.days is not None:
            document["days"] = [day_json(d) for d in self.days]
        return document


@dataclass(frozen=True)
class InverterLines:
    remote_inv_id: str
    source: str
    months: tuple[MonthLine, ...]

    def as_json(self) -> dict[str, Any]:
        return {
            "remote_inv_id": self.remote_inv_id,
            "source": self.source,
            "months": [m.as_json() for m in self.months],
        }


def _text(value: Decimal | None) -> str | None:
    return None if value is None else f"{value:.3f}"


@dataclass(frozen=True)
class LedgerFacts:
    """What `status` reads from the ledger, loaded in one go so the rest is pure computation."""

    sources: dict[str, SourceRef]
    readings: dict[tuple[SourceRef, Month], EnergyReading]
    records: dict[tuple[str, Month], SubmissionRecord]
    findings: dict[tuple[SourceRef, Month], list[Finding]]
    daily: dict[str, dict[Month, MonthLine]] = field(default_factory=dict)
    """Per daily inverter, its months as sums of days (SPEC §11)."""


def _entries(settings: Settings, only: str | None) -> list[InverterSettings]:
    return [e for e in settings.inverters if only is None or e.remote_inv_id == only]


async def load_facts(
    settings: Settings,
    ledger: Ledger,
    now: datetime,
    *,
    only: str | None = None,
    latest: int | None = None,
) -> LedgerFacts:
    """Every configured inverter's (or only `only`'s) months, records and findings.

    With `latest`, only each source's newest readings: enough for the newest months per inverter,
    whose records are always all loaded.
    """
    entries = _entries(settings, only)
    inventory = await ledger.inventory.load_every_account()
    resolution = resolve_inverters(
        [e.entry() for e in entries], inventory.plants, inventory.devices, settings.timezone
    )
    sources = {r.remote_inv_id: r.source for r in resolution.inverters}
    readings = await ledger.energy.monthly(set(sources.values()), latest=latest)
    wanted = None if only is None else [only]
    records = {(r.remote_inv_id, r.month): r for r in await ledger.submissions.records(wanted)}
    daily = await daily_month_lines(ledger, resolution.inverters, now, settings)
    return LedgerFacts(sources, readings, records, await ledger.findings.load(), daily)


def status_lines(
    settings: Settings,
    facts: LedgerFacts,
    now: datetime,
    *,
    last_months: int | None = None,
    only: str | None = None,
) -> list[InverterLines]:
    """Per configured inverter (or only `only`), every month the ledger knows or the latest few."""
    months_of: defaultdict[SourceRef | str, set[Month]] = defaultdict(set)
    for source_ref, month in facts.readings:
        months_of[source_ref].add(month)
    for remote_inv_id, month in facts.records:
        months_of[remote_inv_id].add(month)
    result = []
    for entry in _entries(settings, only):
        target = Target.from_entry(entry.entry(), settings.timezone)
        source = facts.sources.get(entry.remote_inv_id)
        months = months_of[entry.remote_inv_id] | (months_of[source] if source else set())
        chosen = sorted(months)[-last_months:] if last_months else sorted(months)
        lines = [_line(target, month, source, facts, now, settings) for month in chosen]
        if target.daily:
            by_month = facts.daily.get(target.remote_inv_id, {})
            chosen = sorted(by_month)[-last_months:] if last_months else sorted(by_month)
            lines = [by_month[month] for month in chosen]
        label = (
            str(source)
            if source
            else f"{entry.entry().describe()} (not in the cached inventory yet)"
        )
        result.append(InverterLines(entry.remote_inv_id, label, tuple(lines)))
    return result


async def ledger_status(
    settings: Settings, ledger: Ledger, now: datetime, *, last_months: int | None = None
) -> list[InverterLines]:
    """Per configured inverter, every month the ledger knows (or only the latest few)."""
    facts = await load_facts(settings, ledger, now)
    return status_lines(settings, facts, now, last_months=last_months)


def _line(
    target: Target,
    month: Month,
    source: SourceRef | None,
    facts: LedgerFacts,
    now: datetime,
    settings: Settings,
) -> MonthLine:
    reading = facts.readings.get((source, month)) if source else None
    record = facts.records.get((target.remote_inv_id, month))
    view = describe_month(
        target, month, month_record(reading, record), now, settings.schedule.rules()
    )
    findings = facts.findings.get((source, month), []) if source else []
    deadline = None
    if view.state is not SubmissionState.ACCEPTED:
        deadline = issue_deadline(month, settings.irec.deadlines)
    return MonthLine(
        month=month,
        kwh=reading.kwh if reading else None,
        state=view.state,
        process_id=record.process_id if record else None,
        processing_status=record.processing_status if record else None,
        drift_kwh=view.drift_kwh
        if view.drift_kwh is not None
        else (record.drift_kwh if record else None),
        last_error=record.last_error if record else None,
        findings=tuple(f.message for f in findings),
        deadline=deadline,
        days_left=days_left(deadline, now.astimezone(target.zone).date()) if deadline else None,
    )


def _deadline_text(line: MonthLine) -> str:
    if line.deadline is None or line.days_left is None:
        return ""
    if line.days_left < 0:
        return f"{line.deadline} (passed)"
    return f"{line.deadline} ({line.days_left} d)"


def nearest_deadlines(inverters: list[InverterLines]) -> dict[str, int]:
    """Per inverter, the fewest days left to a deadline of a month not accepted."""
    nearest: dict[str, int] = {}
    for inverter in inverters:
        left = [m.days_left for m in inverter.months if m.days_left is not None]
        if left:
            nearest[inverter.remote_inv_id] = min(left)
    return nearest


def state_counts(inverters: list[InverterLines]) -> dict[str, int]:
    """Months by state; a daily inverter counts its days instead (SPEC §11 metrics)."""
    counts: Counter[str] = Counter()
    for inverter in inverters:
        for line in inverter.months:
            if line.days is None:
                counts[line.state.value] += 1
            else:
                counts.update(day.state.value for day in line.days)
    return dict(sorted(counts.items()))


def day_json(line: DayLine) -> dict[str, Any]:
    return {
        "date": line.day.isoformat(),
        "kwh": _text(line.kwh),
        "accumulated_kwh": _text(line.accumulated_kwh),
        "state": line.state.value,
        "process_id": line.facts.process_id,
        "processing_status": line.facts.processing_status,
    }


async def daily_month_lines(
    ledger: Ledger, inverters: Sequence[ResolvedInverter], now: datetime, settings: Settings
) -> dict[str, dict[Month, MonthLine]]:
    """Per daily inverter and month: the sum of its days, their worst state, `n/m days accepted`."""
    window = settings.schedule.correction_window_months
    plans = await daily_plans(ledger, inverters, now, window)
    targets = {inv.remote_inv_id: inv.target for inv in inverters}
    result: dict[str, dict[Month, MonthLine]] = {}
    for plan in plans:
        target = targets[plan.remote_inv_id]
        by_month: defaultdict[Month, list[DayLine]] = defaultdict(list)
        for line in plan.lines:
            by_month[Month.of(line.day)].append(line)
        months: dict[Month, MonthLine] = {}
        for month, lines in sorted(by_month.items()):
            ended = [d for d in month.days() if day_ended(d, now, target.zone)]
            start = target.start_month.first_day() if target.start_month else None
            due = sum(1 for d in ended if start is None or d >= start)
            state, total, note = month_summary(lines, due)
            errors = [line.note or line.facts.last_error for line in lines]
            drift = [line.drift_kwh for line in lines if line.drift_kwh is not None]
            months[month] = MonthLine(
                month=month,
                kwh=total,
                state=state,
                process_id=max((x.facts.process_id or 0 for x in lines), default=0) or None,
                processing_status=None,
                drift_kwh=sum(drift, Decimal("0.000")) if drift else None,
                last_error=next((e for e in errors if e), None),
                findings=(),
                days=tuple(lines),
                days_note=note,
            )
        result[plan.remote_inv_id] = months
    return result


def status_document(inverters: list[InverterLines]) -> dict[str, Any]:
    """The `status --json` document of SPEC §4."""
    return {
        "inverters": [inv.as_json() for inv in inverters],
        "counts": state_counts(inverters),
    }


def status_table(inverters: list[InverterLines]) -> str:
    """A plain table for terminals and pipes, one row per inverter-month."""
    header = ("INVERTER", "MONTH", "KWH", "STATE", "PROCESS", "REDEX", "DRIFT", "DEADLINE", "NOTE")
    rows: list[tuple[str, ...]] = [header]
    for inverter in inverters:
        if not inverter.months:
            rows.append(
                (inverter.remote_inv_id, "-", "-", "no data yet", "", "", "", "", inverter.source)
            )
        for line in inverter.months:
            note = "; ".join(n for n in (line.days_note, line.last_error, *line.findings) if n)
            rows.append(
                (
                    inverter.remote_inv_id,
                    str(line.month),
                    _text(line.kwh) or "-",
                    line.state.value,
                    str(line.process_id or ""),
                    line.processing_status or "",
                    _text(line.drift_kwh) or "",
                    _deadline_text(line),
                    note,
                )
            )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header) - 1)]
    out = []
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row[:-1], widths, strict=True)]
        out.append("  ".join([*cells, row[-1]]).rstrip())
    counts = state_counts(inverters)
    out.append("")
    out.append("  ".join(f"{state}: {n}" for state, n in counts.items()) or "the ledger is empty")
    return "\n".join(out)


async def account_lines(
    ledger: Ledger, accounts: Sequence[str], lease_ttl_s: float
) -> dict[str, dict[str, str | None]]:
    """Per account, which process last held its lease (a command or a daemon), and if it still does."""
    workers = await ledger.leases.workers(accounts, ledger.clock.now(), lease_ttl_s)
    return {
        account: {
            "last_worked_by": held.holder if held is not None else None,
            "last_worked_at": held.taken_at.isoformat() if held is not None else None,
            "lease_holder": held.holder if held is not None and working else None,
        }
        for account, (held, working) in workers.items()
    }
