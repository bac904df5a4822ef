"""The daemon's composition: job runner, lifecycle and HTTP view, opened and closed in order.

`serve_daemon` is `fusionbridge run`; `DaemonApp` is also what `demo` and the tests drive.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

from fusionbridge import __version__
from fusionbridge.app import Runtime, open_runtime
from fusionbridge.daemon.lifecycle import SHUTDOWN_GRACE_S, Daemon
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
    """Wires the job runner, the lifecycle and the HTTP view of one Runtime together."""

    def __init__(
        self,
        rt: Runtime,
        *,
        notifier: Notifier | None = None,
        push_wait_s: float = PUSH_WAIT_S,
        shutdown_grace_s: float = SHUTDOWN_GRACE_S,
        after_job: AfterJob | None = None,
        ledger_retry_s: float = LEDGER_RETRY_S,
    ) -> None:
        self.rt = rt
        self.ledger_retry_s = ledger_retry_s
        self.notifier = notifier or Notifier()
        self.port: int | None = None
        self._after_job = after_job
        self.runner = JobRunner(rt, push_wait_s=push_wait_s)
        self.daemon = Daemon(
            schedule=Schedule.from_settings(rt.settings),
            run_job=self.run_job,
            last_runs=self.runner.last_runs,
            clock=rt.clock,
            notifier=self.notifier,
            shutdown_grace_s=shutdown_grace_s,
        )
        self.view = DaemonStatus(rt, self.daemon, self.runner)
        self.page = PageCache(
            rt.settings,
            rt.ledger,
            rt.clock,
            version=__version__,
            readiness=self.view.readiness,
            next_runs=self.daemon.next_runs,
        )

    # --- lifecycle ----------------------------------------------------------------------------

    async def serve(self, host: str, port: int, *, on_ready: OnReady | None = None) -> int:
        """Listen, run the daemon until SIGTERM/SIGINT or a fatal error; the exit status."""
        nothing_configured(self.rt.settings, "run")
        try:
            runner, bound = await start_server(
                build_app(self.view, self.rt.metrics, page=self.page.answer), host, port
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
                inverters=len(self.rt.settings.inverters),
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
        return self.runner.fatal

    async def _announce(self) -> None:
        """New events go out as notifications (SPEC §15): bounded, never failing the job."""
        try:
            await notify_events(self.rt.settings, self.rt.ledger, self.rt.clock)
        except LedgerError as exc:
            log.warning("notify.skipped", error=redact_error(str(exc)))

    async def run_job(self, job: JobName) -> None:
        """One scheduled job; a sync wakes the push, a dead ledger stops the daemon."""
        if job == "live":
            try:
                reason = await skip_reason(self.rt, self.daemon.next_runs(), self.daemon.waiting())
            except LedgerError as exc:
                self.runner.fatal = exc
                self.daemon.stop()
                return
            if reason is not None:
                log.info("live.skipped", reason=reason)
                return
        ok = await self.runner.run(job)
        with contextlib.suppress(LedgerError):
            await self.rt.ledger.release_memory()
        release_memory()  # the daemon idles until the next trigger: not at its busiest size
        if ok is None:
            self.daemon.stop()
            return
        if ok == SKIPPED:  # another process works on the account: look again once it may be done
            recheck_s = self.rt.settings.storage.lease_ttl_s
            asyncio.get_running_loop().call_later(recheck_s, self.daemon.wake, job)
            return
        if not ok and self.runner.ledger_unavailable is not None:
            # the server may be back soon: try again then rather than at the next scheduled time
            asyncio.get_running_loop().call_later(self.ledger_retry_s, self.daemon.wake, job)
        upcoming = self.daemon.next_runs().get("sync")
        when = upcoming.isoformat(timespec="minutes") if upcoming else "not scheduled"
        self.notifier.status(f"{job} {'ok' if ok else 'failed'}; next sync {when}")
        await self._announce()
        if job == "sync":
            self.daemon.wake("push")  # push follows every sync; it finds what is due itself
        if self._after_job is not None and job != "live":  # the hook follows sync and push
            await self._after_job(job, ok)


async def serve_daemon(settings: Settings) -> int:
    """`fusionbridge run`: open the runtime, serve until stopped, close web → sessions → ledger."""
    async with open_runtime(settings) as rt:
        app = DaemonApp(rt)
        return await app.serve(settings.http.host, settings.http.port)
