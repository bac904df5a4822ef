"""After each daemon job: detect standing events, claim the new ones in the ledger, deliver them.

Claiming is one transaction on the shared ledger, so of two replicas only one sends a message,
and a restart never sends it again. Each URL gets its own record (keyed by a short hash of the
URL, never the URL: it holds tokens), so a service that was down is retried without repeating
the message to the ones that took it. Delivery is bounded in time and never raises.
"""

from __future__ import annotations

import hashlib
import os
import socket
from dataclasses import dataclass
from datetime import datetime, timedelta

from fusionbridge.clock import Clock
from fusionbridge.daemon.status import ledger_status
from fusionbridge.logs import get_logger
from fusionbridge.notify.delivery import send
from fusionbridge.notify.events import Event, JobFact, MonthFact, detect
from fusionbridge.settings import Settings
from fusionbridge.store import Ledger

log = get_logger(__name__)

STALE_CLAIM = timedelta(minutes=15)
"""A claim older than this whose holder never reported back (it died) is taken over."""
ROUND_BUDGET_FACTOR = 3
"""One round of deliveries may take this many `notify.timeout_s`; the rest wait a job."""


@dataclass(frozen=True)
class Round:
    """What one round did: messages delivered and messages that wait for the next job."""

    delivered: int
    failed: int


def holder() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def url_tag(url: str) -> str:
    """A stable short name for a URL in keys and logs that reveals nothing of it."""
    return hashlib.sha256(url.encode()).hexdigest()[:12]


async def facts(
    settings: Settings, ledger: Ledger, now: datetime
) -> tuple[list[MonthFact], dict[str, JobFact]]:
    """The ledger facts events are detected from."""
    values = {
        (r.remote_inv_id, r.month): r.requested_kwh or r.value_sent
        for r in await ledger.submissions.records()
    }
    months = [
        MonthFact(
            inverter.remote_inv_id,
            line.month,
            line.state.value,
            values.get((inverter.remote_inv_id, line.month)) or line.kwh,
            line.drift_kwh,
            line.deadline,
            line.days_left,
            line.last_error,
        )
        for inverter in await ledger_status(settings, ledger, now)
        for line in inverter.months
    ]
    jobs = {
        name: JobFact(name, run.last_success_at, run.last_failure_at, run.last_error)
        for name, run in (await ledger.jobs.runs()).items()
    }
    return months, jobs


async def notify_events(settings: Settings, ledger: Ledger, clock: Clock) -> Round:
    """Detect, claim and deliver; with no `notify.urls` nothing is recorded or sent."""
    if not settings.notify.urls:
        return Round(0, 0)
    now = clock.now()
    months, jobs = await facts(settings, ledger, now)
    return await deliver(settings, ledger, detect(months, jobs, now), clock)


async def deliver(settings: Settings, ledger: Ledger, events: list[Event], clock: Clock) -> Round:
    """Claim every new or undelivered event per URL, and send what this process claimed."""
    by_tag = {url_tag(u.get_secret_value()): u.get_secret_value() for u in settings.notify.urls}
    me, now, started = holder(), clock.now(), clock.monotonic()
    claimed = await ledger.notifications.claim(
        [(f"{e.key}@{tag}", e.kind, e.title, e.body) for e in events for tag in by_tag],
        me,
        now,
        STALE_CLAIM,
    )
    timeout = settings.notify.timeout_s
    budget = timeout * ROUND_BUDGET_FACTOR
    spent = 0.0
    delivered = failed = 0
    for record in claimed:
        key, _, tag = record.key.rpartition("@")
        url = by_tag.get(tag)
        if url is None:  # that URL was removed from the configuration: nothing to send to
            await ledger.notifications.finish(record.key, me, now, None)
            continue
        if spent >= budget:
            error: str | None = "not attempted: this round's delivery time was spent"
        else:
            error = await send([url], record.title, record.body, timeout)
            spent = clock.monotonic() - started
        await ledger.notifications.finish(record.key, me, clock.now(), error)
        if error is None:
            delivered += 1
            log.info("notify.sent", notification=key, kind=record.kind, url=tag)
        else:
            failed += 1
            log.warning("notify.failed", notification=key, kind=record.kind, url=tag, error=error)
    return Round(delivered, failed)
