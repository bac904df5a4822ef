"""What the ledger says per remote inverter and month, for `status`, `status --json` and /status.

Reads only the ledger (no network), so it answers even when both upstreams are down.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from fusionbridge.core.due import describe_month
from fusionbridge.core.inverters import Target, resolve_inverters
from fusionbridge.core.models import (
    EnergyReading,
    Month,
    ScheduleRules,
    SourceRef,
    SubmissionState,
)
from fusionbridge.core.readings import Finding
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

    def as_json(self) -> dict[str, Any]:
        return {
            "month": str(self.month),
            "kwh": _text(self.kwh),
            "state": self.state.value,
            "process_id": self.process_id,
            "processing_status": self.processing_status,
            "drift_kwh": _text(self.drift_kwh),
            "last_error": self.last_error,
            "findings": list(self.findings),
        }


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


def _entries(settings: Settings, only: str | None) -> list[InverterSettings]:
    return [e for e in settings.inverters if only is None or e.remote_inv_id == only]


async def load_facts(
    settings: Settings, ledger: Ledger, *, only: str | None = None, latest: int | None = None
) -> LedgerFacts:
    """Every configured inverter's (or only `only`'s) months, records and findings.

    With `latest`, only each source's newest readings: enough for the newest months per inverter,
    whose records are always all loaded.
    """
    entries = _entries(settings, only)
    inventory = await ledger.inventory.load()
    sources = {
        r.remote_inv_id: r.source
        for r in resolve_inverters(
            [e.entry() for e in entries], inventory.plants, inventory.devices, settings.timezone
        ).inverters
    }
    readings = await ledger.energy.monthly(set(sources.values()), latest=latest)
    wanted = None if only is None else [only]
    records = {(r.remote_inv_id, r.month): r for r in await ledger.submissions.records(wanted)}
    return LedgerFacts(sources, readings, records, await ledger.findings.load())


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
    rules = settings.schedule.rules()
    result = []
    for entry in _entries(settings, only):
        target = Target.from_entry(entry.entry(), settings.timezone)
        source = facts.sources.get(entry.remote_inv_id)
        months = months_of[entry.remote_inv_id] | (months_of[source] if source else set())
        chosen = sorted(months)[-last_months:] if last_months else sorted(months)
        lines = [_line(target, month, source, facts, now, rules) for month in chosen]
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
    facts = await load_facts(settings, ledger)
    return status_lines(settings, facts, now, last_months=last_months)


def _line(
    target: Target,
    month: Month,
    source: SourceRef | None,
    facts: LedgerFacts,
    now: datetime,
    rules: ScheduleRules,
) -> MonthLine:
    reading = facts.readings.get((source, month)) if source else None
    record = facts.records.get((target.remote_inv_id, month))
    view = describe_month(target, month, month_record(reading, record), now, rules)
    findings = facts.findings.get((source, month), []) if source else []
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
    )


def state_counts(inverters: list[InverterLines]) -> dict[str, int]:
    counts = Counter(m.state.value for inv in inverters for m in inv.months)
    return dict(sorted(counts.items()))


def status_document(inverters: list[InverterLines]) -> dict[str, Any]:
    """The `status --json` document of SPEC §4."""
    return {
        "inverters": [inv.as_json() for inv in inverters],
        "counts": state_counts(inverters),
    }


def status_table(inverters: list[InverterLines]) -> str:
    """A plain table for terminals and pipes, one row per inverter-month."""
    header = ("INVERTER", "MONTH", "KWH", "STATE", "PROCESS", "REDEX", "DRIFT", "NOTE")
    rows: list[tuple[str, ...]] = [header]
    for inverter in inverters:
        if not inverter.months:
            rows.append(
                (inverter.remote_inv_id, "-", "-", "no data yet", "", "", "", inverter.source)
            )
        for line in inverter.months:
            note = line.last_error or "; ".join(line.findings)
            rows.append(
                (
                    inverter.remote_inv_id,
                    str(line.month),
                    _text(line.kwh) or "-",
                    line.state.value,
                    str(line.process_id or ""),
                    line.processing_status or "",
                    _text(line.drift_kwh) or "",
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
