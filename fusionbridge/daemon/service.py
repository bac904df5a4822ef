"""The daemon's composition: job runner, lifecycle and HTTP view, opened and closed in order.

`serve_daemon` is `fusionbridge run`; `DaemonApp` is also what `demo` and the tests drive.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Literal

from fusionbridge import __version__
from fusionbridge.app import Fleet, Runtime, one_account_fleet, open_fleet
from fusionbridge.core.takeover import JobFacts, job_due
from fusionbridge.daemon.lifecycle import SHUTDOWN_GRACE_S, Accounts, Daemon
from fusionbridge.daemon.memory import release_memory
from fusionbridge.daemon.schedule import JobName, Schedule
from fusionbridge.daemon.systemd import Notifier
from fusionbridge.daemon.view import DaemonStatus
from fusionbridge.daemon.web import build_app
from fusionbridge.errors import LedgerError
from fusionbridge.jobs.live import skip_reason
from fusionbridge.jobs.runner import LEDGER_RETRY_S, PUSH_WAIT_S, SKIPPED, JobRunner
from fusionbridge.jobs.sources import nothing_configured
from fusionbridge.logs import get_logger
from fusionbridge.notify.dispatch import notify_events
from fusionbridge.page.cache import PageCache
from fusionbridge.serving import start_server
from fusionbridge.settings import Settings
from fusionbridge.store.job_runs import redact_error

log = get_logger(__name__)

AfterJob = Callable[[JobName, bool], Awaitable[None]]
OnReady = Callable[[int], Awaitable[None]]


class DaemonApp:
    """Wires the job runners (one per account), the lifecycle and the HTTP view together."""

    def __init__(
        self,
        served: Runtime | Fleet,
        *,
        notifier: Notifier | None = None,
        push_wait_s: float = PUSH_WAIT_S,
        shutdown_grace_s: float = SHUTDOWN_GRACE_S,
        after_job: AfterJob | None = None,
        ledger_retry_s: float = LEDGER_RETRY_S,
    ) -> None:
        fleet = served if isinstance(served, Fleet) else one_account_fleet(served)
        self.fleet = fleet
        self.rt = fleet.accounts[0]  # a one-account process's runtime (tests, demo)
        self.ledger_retry_s = ledger_retry_s
        self.notifier = notifier or Notifier()
        self.port: int | None = None
        self._after_job = after_job
        self.runners = {rt.account: JobRunner(rt, push_wait_s=push_wait_s) for rt in fleet.accounts}
        schedule = Schedule.from_settings(fleet.view)
        self.schedule = schedule
        self.daemon = Daemon(
            schedule=schedule,
            run_job=self.run_job,
            last_runs=self.last_runs,
            clock=fleet.clock,
            notifier=self.notifier,
            shutdown_grace_s=shutdown_grace_s,
            recheck=self.due_from_ledger,
            recheck_s=fleet.settings.storage.lease_ttl_s,
        )
        self.view = DaemonStatus(fleet, self.daemon, self.runners)
        self.page = PageCache(
            fleet.view,
            fleet.ledger,
            fleet.clock,
            version=__version__,
            readiness=self.view.readiness,
            next_runs=self.daemon.next_runs,
        )

    @property
    def runner(self) -> JobRunner:
        """The one account's runner of a one-account process."""
        return self.runners[self.rt.account]

    # --- lifecycle ----------------------------------------------------------------------------

    async def serve(self, host: str, port: int, *, on_ready: OnReady | None = None) -> int:
        """Listen, run the daemon until SIGTERM/SIGINT or a fatal error; the exit status."""
        nothing_configured(self.fleet.view, "run")
        try:
            runner, bound = await start_server(
                build_app(self.view, self.fleet.metrics, page=self.page.answer), host, port
            )
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
                accounts=len(self.fleet.accounts),
                inverters=len(self.fleet.view.inverters),
            )
            self.notifier.ready(f"listening on {host}:{bound}")
            if on_ready is not None:
                await on_ready(bound)

        try:
            await self.daemon.serve(on_ready=ready)
        finally:
            await self.page.close()
            await runner.cleanup()
        if self.fatal is not None:
            log.error("daemon.fatal", error=str(self.fatal))
            return 1
        log.info("daemon.stopped")
        return 0

    def stop(self) -> None:
        """Stop as SIGTERM would: finish the job in flight (bounded), then close everything."""
        self.daemon.stop()

    @property
    def fatal(self) -> LedgerError | None:
        """The ledger failure that stopped the daemon, if any."""
        return next((r.fatal for r in self.runners.values() if r.fatal is not None), None)

    async def last_runs(self) -> dict[str, dict[str, datetime | None]]:
        """When each served account's jobs last succeeded (an account never run has none)."""
        every = await self.fleet.ledger.jobs.every_account()
        return {
            account: {name: run.last_success_at for name, run in every.get(account, {}).items()}
            for account in self.runners
        }

    async def due_from_ledger(self) -> dict[JobName, frozenset[str]]:
        """Which accounts each job is due for now, from the ledger alone (no upstream call)."""
        ledger, now = self.fleet.ledger, self.fleet.clock.now()
        ttl_s = self.fleet.settings.storage.lease_ttl_s
        # Leases before runs: a run ends before its lease is given back, so a run still marked
        # running after its lease was seen free died, unless it started after that look (read
        # the other way round, every run that ends between the two reads is run again).
        workers = await ledger.leases.workers(self.runners, now, ttl_s)
        every = await ledger.jobs.every_account()
        due: dict[JobName, set[str]] = {"sync": set(), "push": set()}
        for account in self.runners:
            lease_live = workers[account][1]
            runs = every.get(account, {})
            sync = runs.get("sync")
            for job in ("sync", "push"):
                run = runs.get(job)
                started = run.last_started_at if run else None
                facts = JobFacts(
                    running=bool(run and run.running and (started is None or started < now)),
                    last_started_at=run.last_started_at if run else None,
                    last_success_at=run.last_success_at if run else None,
                )
                if job_due(
                    job,
                    facts,
                    lease_live=lease_live,
                    scheduled_since_start=self.schedule.missed(job, facts.last_started_at, now),
                    sync_success_at=sync.last_success_at if sync else None,
                ):
                    due[job].add(account)
        return {job: frozenset(names) for job, names in due.items() if names}

    async def _announce(self) -> None:
        """New events go out as notifications (SPEC §15): bounded, never failing the job."""
        try:
            await notify_events(self.fleet.view, self.fleet.ledger, self.fleet.clock)
        except LedgerError as exc:
            log.warning("notify.skipped", error=redact_error(str(exc)))

    async def run_job(self, job: JobName, accounts: Accounts = None) -> None:
        """One job for the given accounts side by side; a sync wakes the push."""
        chosen = [rt for rt in self.fleet.accounts if accounts is None or rt.account in accounts]
        results = await asyncio.gather(*(self._run_for(job, rt) for rt in chosen))
        with contextlib.suppress(LedgerError):
            await self.fleet.ledger.release_memory()
        release_memory()  # the daemon idles until the next trigger: not at its busiest size
        if self.fatal is not None:
            self.daemon.stop()
            return
        ran = [rt.account for rt, ok in zip(chosen, results, strict=True) if ok is not SKIPPED]
        if job == "live" or not ran:
            return  # nothing ran here: another process works on these accounts, or live is done
        if any(
            ok is False and self.runners[rt.account].ledger_unavailable is not None
            for rt, ok in zip(chosen, results, strict=True)
        ):
            # the server may be back soon: try again then rather than at the next scheduled time
            asyncio.get_running_loop().call_later(self.ledger_retry_s, self.daemon.wake, job)
        ok = all(result is True for result in results if result is not SKIPPED)
        upcoming = self.daemon.next_runs().get("sync")
        when = upcoming.isoformat(timespec="minutes") if upcoming else "not scheduled"
        self.notifier.status(f"{job} {'ok' if ok else 'failed'}; next sync {when}")
        await self._announce()
        if job == "sync":  # push follows every sync; it finds what is due itself
            self.daemon.wake("push", frozenset(ran))
        if self._after_job is not None:  # the hook follows sync and push
            await self._after_job(job, ok)

    async def _run_for(self, job: JobName, rt: Runtime) -> bool | Literal["skipped"] | None:
        """One account's run of `job`; live data first asks whether it may start at all."""
        runner = self.runners[rt.account]
        if job == "live":
            try:
                reason = await skip_reason(rt, self.daemon.next_runs(), self.daemon.waiting())
            except LedgerError as exc:
                runner.fatal = exc
                return None
            if reason is not None:
                log.info("live.skipped", account=rt.account, reason=reason)
                return SKIPPED
        return await runner.run(job)


async def serve_daemon(settings: Settings) -> int:
    """`fusionbridge run`: open every account, serve until stopped, close web → sessions → ledger."""
    async with open_fleet(settings) as fleet:
        app = DaemonApp(fleet)
        return await app.serve(settings.http.host, settings.http.port)
