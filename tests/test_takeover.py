"""When a replica takes over an account's job (SPEC §14): from the ledger's facts alone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from fusionbridge.core.takeover import JobFacts, job_due

T = datetime(2026, 3, 2, 6, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("job", "facts", "lease_live", "scheduled", "sync_ok", "due"),
    [
        # somebody holds the lease: never, whatever else is true
        ("sync", JobFacts(running=True, last_started_at=T), True, True, None, False),
        # started and never finished, lease dead: its process died, finish the work
        ("sync", JobFacts(running=True, last_started_at=T), False, False, None, True),
        # a scheduled time passed since it last started (or it never started)
        ("sync", JobFacts(last_started_at=T - timedelta(days=1)), False, True, None, True),
        # it ran (even if it failed) since its last time: not again until the next one
        ("sync", JobFacts(last_started_at=T), False, False, None, False),
        # the push follows every sync: due when a sync succeeded after the push last started
        ("push", JobFacts(last_started_at=T), False, False, T + timedelta(minutes=5), True),
        ("push", JobFacts(last_started_at=T + timedelta(minutes=6)), False, False, T, False),
        ("push", JobFacts(), False, False, T, True),
        ("push", JobFacts(), False, False, None, False),
        # a sync success never makes the sync itself due
        ("sync", JobFacts(last_started_at=T), False, False, T + timedelta(hours=1), False),
    ],
)
def test_job_due(
    job: str,
    facts: JobFacts,
    lease_live: bool,
    scheduled: bool,
    sync_ok: datetime | None,
    due: bool,
) -> None:
    got = job_due(
        job, facts, lease_live=lease_live, scheduled_since_start=scheduled, sync_success_at=sync_ok
    )
    assert got is due
