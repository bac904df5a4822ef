"""What the HTTP endpoints show: liveness, readiness checks, the /status document, metric gauges."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fusionbridge import __version__
from fusionbridge.app import Runtime
from fusionbridge.core.health import readiness_failures
from fusionbridge.core.models import SubmissionState
from fusionbridge.daemon.lifecycle import Daemon
from fusionbridge.daemon.status import ledger_status, nearest_deadlines, state_counts
from fusionbridge.errors import LedgerError
from fusionbridge.fusionsolar.oauth import authorization_problem
from fusionbridge.jobs.runner import JobRunner
from fusionbridge.page.live_json import live_json, set_live_metrics
from fusionbridge.page.source import plant_facts
from fusionbridge.store.job_runs import JobRun, redact_error

STATUS_MONTHS = 13
JOBS = ("sync", "push", "live")
PENDING_STATES = (SubmissionState.DUE, SubmissionState.SENDING, SubmissionState.SENT)
FAILED_STATES = (SubmissionState.REJECTED, SubmissionState.FAILED)


class DaemonStatus:
    """Answers the endpoints from the ledger and the daemon's state; every answer is redacted."""

    def __init__(self, rt: Runtime, daemon: Daemon, runner: JobRunner) -> None:
        self.rt = rt
        self.daemon = daemon
        self.runner = runner
        self.started_at = rt.clock.now()

    def alive(self) -> bool:
        return self.daemon.alive() and self.runner.fatal is None

    async def readiness(self) -> list[str]:
        authorization = None
        try:
            runs = await self.rt.ledger.jobs.runs()
            ledger_ok = self.runner.fatal is None
            authorization = await authorization_problem(
                self.rt.settings.fusionsolar, self.rt.ledger.oauth
            )
        except LedgerError:
            runs, ledger_ok = {}, False
        sync = runs.get("sync")
        failing = readiness_failures(
            self.rt.clock.now(),
            last_sync_success=sync.last_success_at if sync else None,
            credential_error="; ".join(self.runner.credential_errors.values()) or None,
            ledger_ok=ledger_ok,
            scheduler_ok=self.daemon.alive(),
        )
        lines = [f"{check.name}: {check.detail}" for check in failing]
        if authorization is not None:  # SPEC §12: only a new `authorize` clears it
            lines.insert(0, f"fusionsolar_authorization: {authorization}")
        return lines

    async def status(self) -> dict[str, Any]:
        rt = self.rt
        now = rt.clock.now()
        upcoming = self.daemon.next_runs()
        document: dict[str, Any] = {
            "version": __version__,
            "started_at": _iso(self.started_at),
            "now": _iso(now),
            "next_sync_at": _iso(upcoming.get("sync")),
            "next_push_at": _iso(upcoming.get("push")),
            "next_live_at": _iso(upcoming.get("live")),
            "job_in_flight": self.daemon.current_job,
            "failing_checks": await self.readiness(),
        }
        try:
            runs = await rt.ledger.jobs.runs()
            lines = await ledger_status(rt.settings, rt.ledger, now, last_months=STATUS_MONTHS)
            calls_today = await rt.fusionsolar.calls_today()
        except LedgerError as exc:
            return document | {"error": redact_error(str(exc))}
        counts = state_counts(lines)
        return document | {
            "jobs": {name: _job_json(runs.get(name)) for name in JOBS},
            "inverters": [inverter.as_json() for inverter in lines],
            "counts": counts,
            "pending": sum(counts.get(s.value, 0) for s in PENDING_STATES),
            "failed": sum(counts.get(s.value, 0) for s in FAILED_STATES),
            "fusionsolar_calls_today": calls_today,
            "plants": live_json(await plant_facts(rt.settings, rt.ledger, now), now),
        }

    async def refresh_metrics(self) -> None:
        rt = self.rt
        try:
            lines = await ledger_status(rt.settings, rt.ledger, rt.clock.now())
            runs = await rt.ledger.jobs.runs()
            plants = await plant_facts(rt.settings, rt.ledger, rt.clock.now())
        except LedgerError:
            return
        set_live_metrics(rt.metrics, plants, rt.clock.now())
        shown = (s for s in SubmissionState if s is not SubmissionState.SENDING)  # shown as due
        rt.metrics.set_submissions({s.value: 0 for s in shown} | state_counts(lines))
        rt.metrics.set_deadlines(nearest_deadlines(lines))
        rt.metrics.drift_months.set(sum(1 for i in lines for m in i.months if m.drift_kwh))
        for api in ("fusionsolar", "redex"):
            refused = 1 if api in self.runner.credential_errors else 0
            rt.metrics.credentials_refused.labels(api=api).set(refused)
        for name, run in runs.items():
            if run.last_success_at is not None:
                rt.metrics.job_last_success.labels(job=name).set(run.last_success_at.timestamp())


def _iso(instant: datetime | None) -> str | None:
    return instant.astimezone(UTC).isoformat() if instant is not None else None


_JOB_FIELDS = (
    "runs",
    "failures",
    "running",
    "last_started_at",
    "last_success_at",
    "last_failure_at",
    "last_error",
)


def _job_json(run: JobRun | None) -> dict[str, Any]:
    if run is None:
        return dict.fromkeys(_JOB_FIELDS) | {"runs": 0, "failures": 0, "running": False}
    return {
        "runs": run.runs,
        "failures": run.failures,
        "running": run.running,
        "last_started_at": _iso(run.last_started_at),
        "last_success_at": _iso(run.last_success_at),
        "last_failure_at": _iso(run.last_failure_at),
        "last_error": run.last_error,
    }
