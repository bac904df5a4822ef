"""Standing problems and the exact next action for each: the command to run or the line to add."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from fusionbridge.core.deadlines import days_left, issue_deadline
from fusionbridge.core.models import Month
from fusionbridge.page.facts import InverterFacts, MonthFacts

DEADLINE_WARNING_DAYS = 60
DAILY_MARKER = "{Daily}"
"""REDEX's words for an inverter registered Daily that was sent monthly data (SPEC §11)."""


@dataclass(frozen=True, slots=True)
class Problem:
    severity: Literal["error", "warning", "advice"]
    subject: str
    what: str
    action: str
    action_kind: Literal["command", "config", "step"]


def _readiness(check: str) -> Problem:
    name, _, detail = check.partition(": ")
    if name == "credentials":
        return Problem(
            "error",
            "credentials",
            detail,
            "correct them in the config or the secrets directory, then: fusionbridge check",
            "step",
        )
    if name == "sync":
        return Problem("error", "sync", detail, "fusionbridge sync", "command")
    return Problem(
        "error",
        name,
        detail or check,
        "read the daemon's log, then restart it (docker compose restart / systemctl restart)",
        "step",
    )


def _month_problem(inv: str, facts: MonthFacts) -> Problem | None:
    month = str(facts.month)
    error = facts.last_error or ""
    if facts.state == "rejected" and (DAILY_MARKER in error or "registered Daily" in error):
        return Problem(
            "error",
            f"{inv} {month}",
            f"rejected: {error}",
            f'[[inverters]] remote_inv_id = "{inv}"  →  add: frequency = "daily"',
            "config",
        )
    if facts.state == "rejected":
        return Problem(
            "error",
            f"{inv} {month}",
            f"rejected by REDEX: {error or 'no reason given'}",
            f"fix what REDEX names, then: fusionbridge push --month {month} --force",
            "command",
        )
    if facts.state == "failed":
        return Problem(
            "error",
            f"{inv} {month}",
            f"failed: {error or 'REDEX processing failed'}",
            f"fusionbridge push --month {month} --force",
            "command",
        )
    if facts.state == "held":
        return Problem(
            "error",
            f"{inv} {month}",
            f"held, not sent: {error or 'the value is implausible'}",
            f"if the value is right: fusionbridge push --month {month} --inverter {inv} --force",
            "command",
        )
    if facts.state == "unconfirmed":
        return Problem(
            "warning",
            f"{inv} {month}",
            "may or may not have reached REDEX; the next push sends it once more",
            "fusionbridge push",
            "command",
        )
    if facts.drift_kwh is not None and facts.drift_kwh != 0:
        return Problem(
            "warning",
            f"{inv} {month}",
            f"FusionSolar changed this frozen month by {facts.drift_kwh:+.3f} kWh",
            f"if the new value is right: fusionbridge push --month {month} --force",
            "command",
        )
    return None


def _inverter_problems(inverter: InverterFacts, now: datetime) -> Iterator[Problem]:
    inv = inverter.remote_inv_id
    if not inverter.resolved:
        yield Problem(
            "error",
            inv,
            f"its source is not in the FusionSolar inventory: {inverter.source}",
            "fusionbridge discover --toml  (then correct esn / device_id / plant_code)",
            "command",
        )
        return
    current = Month.containing(now, inverter.zone)
    previous = current.previous()
    if previous not in inverter.months or inverter.months[previous].kwh is None:
        yield Problem(
            "warning",
            f"{inv} {previous}",
            "no value for last month yet",
            f"fusionbridge sync --from {previous} --to {previous}",
            "command",
        )
    for month in sorted(inverter.months):
        facts = inverter.months[month]
        problem = _month_problem(inv, facts)
        if problem is not None:
            yield problem
            continue
        left = days_left(facts.deadline or issue_deadline(month), now.date())
        if facts.state in ("due", "fetched") and month < current and left <= DEADLINE_WARNING_DAYS:
            yield Problem(
                "warning",
                f"{inv} {month}",
                f"not accepted and the I-REC deadline is {left} days away",
                f"fusionbridge push --month {month}",
                "command",
            )
        if facts.findings:
            yield Problem(
                "advice",
                f"{inv} {month}",
                "; ".join(facts.findings),
                f"fusionbridge sync --from {month} --to {month} --days",
                "command",
            )


def problems_of(
    inverters: Sequence[InverterFacts], failing: Sequence[str], now: datetime
) -> list[Problem]:
    """Every standing problem, most serious first."""
    found = [_readiness(check) for check in failing]
    for inverter in inverters:
        found.extend(_inverter_problems(inverter, now))
    order = {"error": 0, "warning": 1, "advice": 2}
    return sorted(found, key=lambda p: order[p.severity])
