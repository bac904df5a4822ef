"""The page's view model: plain facts from the ledger in, everything the markup shows out.

Pure and built once per ledger change (see `page.cache`), so opening the page costs no more
than rendering; the /status document can be built from the same facts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from fusionbridge.core.deadlines import days_left, issue_deadline
from fusionbridge.core.models import Month
from fusionbridge.page.facts import InverterFacts, JobFacts, MonthFacts, PageFacts, PlantFacts
from fusionbridge.page.problems import Problem, problems_of
from fusionbridge.page.states import PROBLEM_STATES, StateLook, look
from fusionbridge.page.svg import Bar, hourly_curve, month_bars

MONTHS_SHOWN = 13
HEALTH_WORDS = {1: "disconnected", 2: "faulty", 3: "healthy"}
HEALTH_CSS = {1: "st-failed", 2: "st-rejected", 3: "st-accepted"}


@dataclass(frozen=True, slots=True)
class Cell:
    month: Month
    kwh: str
    state: str
    look: StateLook
    drift: str | None
    findings: tuple[str, ...]
    deadline: str | None
    days_left: int | None
    error: str | None
    label: str
    title: str


def _title(
    label: str,
    kwh: str,
    words: str,
    cell: MonthFacts | None,
    deadline: str | None,
    left: int | None,
    error: str | None,
) -> str:
    parts = [f"{label}: {kwh} kWh", words]
    if cell is not None and cell.drift_kwh is not None:
        parts.append(f"drift {cell.drift_kwh:+.3f} kWh")
    if cell is not None:
        parts.extend(cell.findings)
    if deadline:
        parts.append(f"I-REC deadline {deadline} ({left} days left)")
    if error:
        parts.append(error)
    return " · ".join(parts)


@dataclass(frozen=True, slots=True)
class InverterRow:
    remote_inv_id: str
    source: str
    cells: tuple[Cell, ...]
    chart: str
    total_kwh: str
    next_deadline: str | None


@dataclass(frozen=True, slots=True)
class PlantCard:
    code: str
    name: str
    today_kwh: str
    lifetime_kwh: str
    health: str
    health_css: str
    age: str
    chart: str | None


@dataclass(frozen=True, slots=True)
class JobLine:
    name: str
    last: str
    next: str
    ok: bool
    error: str | None


@dataclass(frozen=True, slots=True)
class AccountLine:
    name: str
    worker: str
    since: str
    working: bool


@dataclass(frozen=True, slots=True)
class PageView:
    generated_at: str
    version: str
    ready: bool
    failing: tuple[str, ...]
    jobs: tuple[JobLine, ...]
    calls_today: tuple[tuple[str, int], ...]
    months: tuple[Month, ...]
    rows: tuple[InverterRow, ...]
    plants: tuple[PlantCard, ...]
    problems: tuple[Problem, ...]
    live_note: str
    accounts: tuple[AccountLine, ...] = ()


def kwh_text(value: Decimal | None) -> str:
    return "\u2013" if value is None else f"{value:,.1f}"


def _local(instant: datetime | None, zone: ZoneInfo) -> str:
    return "never" if instant is None else instant.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z")


def age_text(seconds: float) -> str:
    """A duration as a person says it: 40 s, 12 min, 3 h, 2 d."""
    if seconds < 90:
        return f"{max(0, round(seconds))} s"
    if seconds < 90 * 60:
        return f"{round(seconds / 60)} min"
    if seconds < 36 * 3600:
        return f"{round(seconds / 3600)} h"
    return f"{round(seconds / 86400)} d"


def _cell(
    facts: MonthFacts | None, month: Month, label: str, today_month: Month, now: datetime
) -> Cell:
    state = facts.state if facts else "missing"
    kwh = facts.kwh if facts else None
    unfinished = state != "accepted" and month < today_month and kwh is not None
    shown = look(state)
    text = kwh_text(kwh)
    due_by = (facts.deadline if facts else None) or issue_deadline(month)
    deadline = due_by.isoformat() if unfinished else None
    left = days_left(due_by, now.date()) if unfinished else None
    error = facts.last_error if facts and state in PROBLEM_STATES else None
    return Cell(
        month=month,
        kwh=text,
        state=state,
        look=shown,
        drift=None if not facts or facts.drift_kwh is None else f"{facts.drift_kwh:+.3f}",
        findings=facts.findings if facts else (),
        deadline=deadline,
        days_left=left,
        error=error,
        label=label,
        title=_title(label, text, shown.words, facts, deadline, left, error),
    )


def _row(
    inverter: InverterFacts, months: Sequence[Month], labels: Sequence[str], now: datetime
) -> InverterRow:
    current = Month.containing(now, inverter.zone)
    cells = tuple(
        _cell(inverter.months.get(m), m, label, current, now)
        for m, label in zip(months, labels, strict=True)
    )
    bars = [
        Bar(c.label, c.title, inverter.months[c.month].kwh, c.look.css, c.look.symbol)
        if c.month in inverter.months
        else Bar(c.label, f"{c.label}: no value", None, c.look.css, c.look.symbol)
        for c in cells
    ]
    known = [f.kwh for f in inverter.months.values() if f.kwh is not None and f.month in months]
    open_deadlines = [c for c in cells if c.deadline and c.days_left is not None]
    soonest = min(open_deadlines, key=lambda c: c.days_left or 0, default=None)
    return InverterRow(
        remote_inv_id=inverter.remote_inv_id,
        source=inverter.source,
        cells=cells,
        chart=month_bars(bars, caption=f"{inverter.remote_inv_id}: kWh per month"),
        total_kwh=kwh_text(sum(known, Decimal(0)) if known else None),
        next_deadline=(
            f"{soonest.month} by {soonest.deadline} ({soonest.days_left} days)" if soonest else None
        ),
    )


def _plant(plant: PlantFacts, now: datetime, interval_min: int) -> PlantCard:
    hours = [plant.hours.get(h) for h in range(24)]
    return PlantCard(
        code=plant.code,
        name=plant.name,
        today_kwh=kwh_text(plant.today_kwh),
        lifetime_kwh=kwh_text(plant.lifetime_kwh),
        health=HEALTH_WORDS.get(plant.health or 0, "unknown"),
        health_css=HEALTH_CSS.get(plant.health or 0, "st-unknown"),
        age=(
            "no live data yet"
            if plant.fetched_at is None
            else f"read {age_text((now - plant.fetched_at).total_seconds())} ago"
            + (" (stale)" if stale(plant.fetched_at, now, interval_min) else "")
        ),
        chart=hourly_curve(hours, caption=f"{plant.name}: kWh per hour today")
        if plant.hours
        else None,
    )


def _job(name: str, facts: JobFacts | None, upcoming: datetime | None, zone: ZoneInfo) -> JobLine:
    facts = facts or JobFacts()
    failed_last = facts.last_failure_at is not None and (
        facts.last_success_at is None or facts.last_failure_at > facts.last_success_at
    )
    return JobLine(
        name=name,
        last=("running now" if facts.running else _local(facts.last_success_at, zone)),
        next=_local(upcoming, zone) if upcoming else "not scheduled",
        ok=not failed_last,
        error=facts.last_error if failed_last else None,
    )


def build_view(facts: PageFacts) -> PageView:
    """The whole page as values: health, one row per inverter, plant cards, standing problems."""
    now = facts.now
    current = Month.containing(now, facts.zone)
    months = tuple(current.shift(offset) for offset in range(1 - MONTHS_SHOWN, 1))
    labels = tuple(str(m) for m in months)
    live = (
        "live plant data is off ([live] interval_min = 0)"
        if facts.live_interval_min == 0
        else f"live plant data every {facts.live_interval_min} min"
    )
    return PageView(
        generated_at=_local(now, facts.zone),
        version=facts.version,
        ready=not facts.failing,
        failing=tuple(facts.failing),
        jobs=tuple(
            _job(name, facts.jobs.get(name), facts.next_runs.get(name), facts.zone)
            for name in ("sync", "push", "live")
            if name != "live" or facts.live_interval_min
        ),
        calls_today=tuple(sorted(facts.calls_today.items())),
        months=months,
        rows=tuple(_row(inverter, months, labels, now) for inverter in facts.inverters),
        plants=tuple(_plant(plant, now, facts.live_interval_min) for plant in facts.plants),
        problems=tuple(problems_of(facts.inverters, facts.failing, now)),
        live_note=live,
        accounts=tuple(
            AccountLine(
                a.name,
                a.last_worked_by or "nobody yet",
                _local(a.last_worked_at, facts.zone),
                a.working,
            )
            for a in facts.accounts
        ),
    )


def stale(fetched_at: datetime | None, now: datetime, interval_min: int) -> bool:
    """Live data older than three intervals is shown as stale."""
    if fetched_at is None or interval_min == 0:
        return False
    return now - fetched_at > timedelta(minutes=3 * interval_min)
