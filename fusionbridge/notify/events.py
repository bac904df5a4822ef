"""Which events deserve a message, pure: ledger facts and `now` in, keyed events out.

An event's key names the incident, not the moment it was seen: the same standing problem keeps
its key, so the ledger's record of sent keys stops it from being announced twice (a push that
re-sends a rejected month and is refused again is the same incident); a new value refused, a new
drift value or a new streak of failures makes a new key.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from fusionbridge.core.deadlines import WARN_DAYS
from fusionbridge.core.models import Month

ALERT_STATES = {
    "rejected": "REDEX refused it",
    "failed": "REDEX processing failed or its answer could not be used",
    "held": "it was held back as implausible",
}
"""Ledger states that are a standing problem worth a message; others never are."""
STALE_SYNC = timedelta(days=2)
CREDENTIAL_MARKERS = ("refused the credentials", "authorization expired or revoked")
"""How a job's recorded error says its credentials or OAuth authorization are gone."""


@dataclass(frozen=True, slots=True)
class Event:
    key: str
    kind: str
    title: str
    body: str


@dataclass(frozen=True, slots=True)
class MonthFact:
    """One inverter-month as the ledger shows it; `state` is the ledger's own string."""

    remote_inv_id: str
    month: Month
    state: str
    value_kwh: Decimal | None
    drift_kwh: Decimal | None
    deadline: date | None
    days_left: int | None
    last_error: str | None


@dataclass(frozen=True, slots=True)
class JobFact:
    name: str
    last_success_at: datetime | None
    last_failure_at: datetime | None
    last_error: str | None


def detect(months: Iterable[MonthFact], jobs: Mapping[str, JobFact], now: datetime) -> list[Event]:
    """Every event that stands at `now`, each under the key of its incident, sorted by key."""
    events = [e for fact in months for e in _month_events(fact)]
    events += [e for job in jobs.values() if (e := _credentials(job)) is not None]
    sync = jobs.get("sync")
    if sync is not None and (stale := _stale_sync(sync, now)) is not None:
        events.append(stale)
    return sorted(events, key=lambda e: e.key)


def _month_events(fact: MonthFact) -> list[Event]:
    who = f"{fact.remote_inv_id} {fact.month}"
    events = []
    if fact.state in ALERT_STATES:
        why = fact.last_error or ALERT_STATES[fact.state]
        events.append(
            Event(
                f"month:{fact.remote_inv_id}:{fact.month}:{fact.state}:{fact.value_kwh}",
                fact.state,
                f"fusionbridge: {who} {fact.state}",
                f"{who} is {fact.state}: {why}. Fix the cause, then send it again with "
                f"`fusionbridge push --month {fact.month} --force`.",
            )
        )
    if fact.drift_kwh is not None:
        events.append(
            Event(
                f"drift:{fact.remote_inv_id}:{fact.month}:{fact.drift_kwh}",
                "drift",
                f"fusionbridge: {who} changed after it was frozen",
                f"FusionSolar now reports {fact.drift_kwh:+} kWh against the accepted value of "
                f"{who}. It is not re-sent on its own; if the new value is right, send it with "
                f"`fusionbridge push --month {fact.month} --force`.",
            )
        )
    if (
        fact.state != "accepted"
        and fact.deadline is not None
        and fact.days_left is not None
        and fact.days_left <= WARN_DAYS
    ):
        when = "passed" if fact.days_left < 0 else f"is in {fact.days_left} days"
        events.append(
            Event(
                f"deadline:{fact.remote_inv_id}:{fact.month}:{fact.deadline}",
                "deadline",
                f"fusionbridge: I-REC deadline for {who} {when}",
                f"{who} is {fact.state}, not accepted, and its I-REC issuance deadline "
                f"{fact.deadline} {when}. See `fusionbridge status`.",
            )
        )
    return events


def _credentials(job: JobFact) -> Event | None:
    error = job.last_error or ""
    if job.last_failure_at is None or not any(m in error for m in CREDENTIAL_MARKERS):
        return None
    if job.last_success_at is not None and job.last_success_at >= job.last_failure_at:
        return None
    since = job.last_success_at.isoformat() if job.last_success_at else "never"
    return Event(
        f"credentials:{job.name}:{since}",
        "credentials",
        f"fusionbridge: {job.name} stopped: credentials refused",
        f"The {job.name} job stopped: {error}. Nothing is retried in a loop; fix the "
        "credentials (or run `fusionbridge authorize`) and restart or wait for the next run.",
    )


def _stale_sync(sync: JobFact, now: datetime) -> Event | None:
    last = sync.last_success_at
    if last is None or now - last < STALE_SYNC:
        return None
    return Event(
        f"stale_sync:{last.isoformat()}",
        "stale_sync",
        "fusionbridge: no successful sync for 2 days",
        f"The last successful FusionSolar sync was at {last.isoformat()}"
        + (f"; the last error: {sync.last_error}" if sync.last_error else "")
        + ". See `fusionbridge status` and the daemon's /readyz.",
    )
