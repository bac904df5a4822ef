"""The daemon's composition: runtime, scheduler and HTTP view, opened and closed in order.

`serve_daemon` is `fusionbridge run`; `DaemonApp` is also what `demo` and the tests drive. A job
that fails is recorded and retried at its next time; only a ledger that cannot be used stops
the process (non-zero, so Docker and systemd restart it). Refused credentials stand on /readyz
instead: restarting would only spend Huawei's login quota.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from fusionbridge import __version__, jobs
from fusionbridge.daemon import SHUTDOWN_GRACE_S, Daemon
from fusionbridge.errors import CredentialsError, FusionBridgeError, LedgerError
from fusionbridge.logs import get_logger
from fusionbridge.models import SubmissionState
from fusionbridge.notify.dispatch import notify_events
from fusionbridge.planning import readiness_failures
from fusionbridge.report import ledger_status, nearest_deadlines, state_counts
from fusionbridge.runtime import Runtime, open_runtime
from fusionbridge.scheduler import JobName, Schedule
from fusionbridge.settings import Settings
from fusionbridge.store.job_runs import JobRun, redact_error
from fusionbridge.systemd import Notifier
from fusionbridge.web import build_app, start_server

log = get_logger(__name__)

PUSH_WAIT_S = 120.0
"""How long a scheduled push follows REDEX processing; what is left is polled next time."""
STATUS_MONTHS = 13
JOBS: tuple[JobName, ...] = ("sync", "push")
PENDING_STATES = (SubmissionState.DUE, SubmissionState.SENDING, SubmissionState.SENT)
FAILED_STATES = (SubmissionState.REJECTED, SubmissionState.FAILED)
CREDENTIALS_OF_JOB = {"sync": "fusionsolar", "push": "redex"}
"""Which account a successful job proves again, clearing its standing credential error."""

AfterJob = Callable[[JobName, bool], Awaitable[None]]
OnReady = Callable[[int], Awaitable[None]]


class DaemonApp:
    """Runs the scheduled jobs against one Runtime and answers the HTTP endpoints about them."""

    def __init__(
        self,
        rt: Runtime,
        *,
        notifier: Notifier | None = None,
        push_wait_s: float = PUSH_WAIT_S,
        shutdown_grace_s: float = SHUTDOWN_GRACE_S,
        after_job: AfterJob | None = None,
    ) -> None:
        self.rt = rt
        self.started_at = rt.clock.now()
        self.notifier = notifier or Notifier()
        self.push_wait_s = push_wait_s
        self.port: int | None = None
        self.fatal: LedgerError | None = None
        self._after_job = after_job
        self._credential_errors: dict[str, str] = {}
        self.daemon = Daemon(
            schedule=Schedule.from_settings(rt.settings),
            run_job=self.run_job,
            last_runs=self.last_runs,
            clock=rt.clock,
            notifier=self.notifier,
            shutdown_grace_s=shutdown_grace_s,
        )

    # --- lifecycle ----------------------------------------------------------------------------

    async def serve(self, host: str, port: int, *, on_ready: OnReady | None = None) -> int:
        """Listen, run the daemon until SIGTERM/SIGINT or a fatal error; the exit status."""
        if not self.rt.settings.inverters:
            log.warning(
                "run.nothing_configured",
                hint="add [[inverters]]; `fusionbridge discover --toml` lists them",
            )
        try:
            runner, bound = await start_server(build_app(self, self.rt.metrics), host, port)
        except OSError as exc:
            log.error("http.bind_failed", host=host, port=port, error=exc.strerror or str(exc))
            return 1
        self.port = bound

        async def ready() -> None:
            log.info(
                "daemon.ready",
                host=host,
                port=bound,
                version=__version__,
                inverters=len(self.rt.settings.inverters),
            )
            self.notifier.ready(f"listening on {host}:{bound}")
            if on_ready is not None:
                await on_ready(bound)

        try:
            await self.daemon.serve(on_ready=ready)
        finally:
            await runner.cleanup()
        if self.fatal is not None:
            log.error("daemon.fatal", error=str(self.fatal))
            return 1
        log.info("daemon.stopped")
        return 0

    def stop(self) -> None:
        """Stop as SIGTERM would: finish the job in flight (bounded), then close everything."""
        self.daemon.stop()

    # --- jobs ---------------------------------------------------------------------------------

    async def last_runs(self) -> dict[str, datetime | None]:
        """When each job last succeeded: a run that failed or was cut short is redone at start."""
        runs = await self.rt.ledger.job_runs()
        return {name: run.last_success_at for name, run in runs.items()}

    async def run_job(self, job: JobName) -> None:
        """One scheduled job with its bookkeeping: ledger, metrics, log, systemd STATUS."""
        rt = self.rt
        rt.metrics.job_runs.labels(job=job).inc()
        try:
            await rt.ledger.job_started(job, rt.clock.now())
            ok, error = await self._attempt(job)
            await rt.ledger.job_finished(job, rt.clock.now(), ok, error)
        except LedgerError as exc:
            self._give_up(job, exc)
            return
        if ok:
            rt.metrics.job_last_success.labels(job=job).set(rt.clock.now().timestamp())
            self._credential_errors.pop(CREDENTIALS_OF_JOB[job], None)
        else:
            rt.metrics.job_failures.labels(job=job).inc()
        self._report(job, ok)
        await self._announce()
        if job == "sync":
            self.daemon.wake("push")  # push follows every sync; it finds what is due itself
        if self._after_job is not None:
            await self._after_job(job, ok)

    async def _attempt(self, job: JobName) -> tuple[bool, str | None]:
        """Run the job's use case; a failure becomes (False, message), a ledger failure escapes."""
        rt = self.rt
        started = rt.clock.monotonic()
        try:
            if not rt.settings.inverters:
                log.warning("job.nothing_configured", job=job)
            elif job == "sync":
                await jobs.sync(rt, daily=True)
            else:
                await jobs.push(rt, wait_s=self.push_wait_s)
        except LedgerError:
            raise
        except CredentialsError as exc:
            message = redact_error(f"{exc.api} refused the credentials: {exc}")
            self._credential_errors[exc.api] = message
            log.error("job.failed", job=job, error=message, credentials=exc.api)
            return False, message
        except FusionBridgeError as exc:
            log.error("job.failed", job=job, error=redact_error(str(exc)))
            return False, str(exc)
        except Exception as exc:  # a bug must not stop the daemon: log it, retry next time
            log.exception("job.failed", job=job, error=redact_error(repr(exc)))
            return False, repr(exc)
        log.info("job.finished", job=job, duration_s=round(rt.clock.monotonic() - started, 3))
        return True, None

    async def _announce(self) -> None:
        """New events go out as notifications (SPEC §15): bounded, never failing the job."""
        try:
            await notify_events(self.rt.settings, self.rt.ledger, self.rt.clock)
        except LedgerError as exc:
            log.warning("notify.skipped", error=redact_error(str(exc)))

    def _give_up(self, job: JobName, exc: LedgerError) -> None:
        log.error("job.failed", job=job, error=redact_error(str(exc)), fatal=True)
        self.rt.metrics.job_failures.labels(job=job).inc()
        self.fatal = exc
        self.daemon.stop()

    def _report(self, job: JobName, ok: bool) -> None:
        upcoming = self.daemon.next_runs().get("sync")
        when = upcoming.isoformat(timespec="minutes") if upcoming else "not scheduled"
        self.notifier.status(f"{job} {'ok' if ok else 'failed'}; next sync {when}")

    # --- DaemonView ---------------------------------------------------------------------------

    def alive(self) -> bool:
        return self.daemon.alive() and self.fatal is None

    async def readiness(self) -> list[str]:
        try:
            runs = await self.rt.ledger.job_runs()
            ledger_ok = self.fatal is None
        except LedgerError:
            runs, ledger_ok = {}, False
        sync = runs.get("sync")
        failing = readiness_failures(
            self.rt.clock.now(),
            last_sync_success=sync.last_success_at if sync else None,
            credential_error="; ".join(self._credential_errors.values()) or None,
            ledger_ok=ledger_ok,
            scheduler_ok=self.daemon.alive(),
        )
        return [f"{check.name}: {check.detail}" for check in failing]

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
            "job_in_flight": self.daemon.current_job,
            "failing_checks": await self.readiness(),
        }
        try:
            runs = await rt.ledger.job_runs()
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
        }

    async def refresh_metrics(self) -> None:
        rt = self.rt
        try:
            lines = await ledger_status(rt.settings, rt.ledger, rt.clock.now())
            runs = await rt.ledger.job_runs()
        except LedgerError:
            return
        shown = (s for s in SubmissionState if s is not SubmissionState.SENDING)  # shown as due
        rt.metrics.set_submissions({s.value: 0 for s in shown} | state_counts(lines))
        rt.metrics.set_deadlines(nearest_deadlines(lines))
        rt.metrics.drift_months.set(sum(1 for i in lines for m in i.months if m.drift_kwh))
        for api in ("fusionsolar", "redex"):
            refused = 1 if api in self._credential_errors else 0
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


async def serve_daemon(settings: Settings) -> int:
    """`fusionbridge run`: open the runtime, serve until stopped, close web → sessions → ledger."""
    async with open_runtime(settings) as rt:
        app = DaemonApp(rt)
        return await app.serve(settings.http.host, settings.http.port)
