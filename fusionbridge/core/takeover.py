"""Whether an account's job must run now, judged from the ledger alone (SPEC §14).

Every replica asks this every `lease_ttl_s`. A job is due when nobody holds the account's lease
and either its last run was cut short (started, never finished: its process died), a scheduled
time has passed since it last started, or, for the push, a sync has succeeded since the push
last started (the push follows every sync). A run that failed is not due again until its next
time, so a failing upstream is not hammered by every replica.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class JobFacts:
    """What the ledger says of one account's job."""

    running: bool = False
    last_started_at: datetime | None = None
    last_success_at: datetime | None = None


def job_due(
    job: str,
    facts: JobFacts,
    *,
    lease_live: bool,
    scheduled_since_start: bool,
    sync_success_at: datetime | None = None,
) -> bool:
    """True when this process should take the account's lease and run `job` now."""
    if lease_live:
        return False
    if facts.running or scheduled_since_start:
        return True
    if job != "push" or sync_success_at is None:
        return False
    return facts.last_started_at is None or sync_success_at > facts.last_started_at
