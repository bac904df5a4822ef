"""Why /readyz answers 503: a pure verdict over the facts the daemon gathers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

MAX_SYNC_AGE = timedelta(days=2)
"""/readyz fails when the last successful sync is older than this."""


@dataclass(frozen=True, slots=True)
class FailedCheck:
    """One reason /readyz answers 503."""

    name: str
    detail: str


def readiness_failures(
    now: datetime,
    *,
    last_sync_success: datetime | None,
    credential_error: str | None,
    ledger_ok: bool,
    scheduler_ok: bool,
    max_sync_age: timedelta = MAX_SYNC_AGE,
) -> list[FailedCheck]:
    """Every failing readiness check of a one-account process; empty means ready."""
    return process_failures(ledger_ok=ledger_ok, scheduler_ok=scheduler_ok) + account_failures(
        now,
        last_sync_success=last_sync_success,
        credential_error=credential_error,
        max_sync_age=max_sync_age,
    )


def process_failures(*, ledger_ok: bool, scheduler_ok: bool) -> list[FailedCheck]:
    """What fails for the whole process, whatever the account."""
    failures = []
    if not ledger_ok:
        failures.append(FailedCheck("ledger", "the ledger cannot be used"))
    if not scheduler_ok:
        failures.append(FailedCheck("scheduler", "the scheduler is not running"))
    return failures


def account_failures(
    now: datetime,
    *,
    last_sync_success: datetime | None,
    credential_error: str | None,
    max_sync_age: timedelta = MAX_SYNC_AGE,
) -> list[FailedCheck]:
    """What fails for one account: refused credentials, no recent sync."""
    failures = []
    if credential_error is not None:
        failures.append(FailedCheck("credentials", credential_error))
    if last_sync_success is None:
        failures.append(FailedCheck("sync", "no sync has succeeded yet"))
    elif now - last_sync_success > max_sync_age:
        failures.append(
            FailedCheck("sync", f"last successful sync {last_sync_success.isoformat()} is too old")
        )
    return failures
