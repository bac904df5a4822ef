"""The daemon's composition: job runner, lifecycle and HTTP view, opened and closed in order.

`serve_daemon` is `fusionbridge run`; `DaemonApp` is also what `demo` and the tests drive.
"""

from __future__ import annotations

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
from fusionbridge.jobs.runner import PUSH_WAIT_S, JobRunner
from fusionbridge.jobs.sources import nothing_configured
from fusionbridge.logs import get_logger
from fusionbridge.serving import start_server
from fusionbridge.settings import Settings

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
    ) -> None:
        self.rt = rt
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

    # --- lifecycle ----------------------------------------------------------------------------

    async def serve(self, host: str, port: int, *, on_ready: OnReady | None = None) -> int:
        """Listen, run the daemon until SIGTERM/SIGINT or a fatal error; the exit status."""
        nothing_configured(self.rt.settings, "run")
        try:
            runner, bound = await start_server(build_app(self.view, self.rt.metrics), host, port)
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

    @property
    def fatal(self) -> LedgerError | None:
        """The ledger failure that stopped the daemon, if any."""
        return self.runner.fatal

    async def run_job(self, job: JobName) -> None:
        """One scheduled job; a sync wakes the push, a dead ledger stops the daemon."""
        ok = await self.runner.run(job)
        with contextlib.suppress(LedgerError):
            await self.rt.ledger.release_memory()
        release_memory()  # the daemon idles until the next trigger: not at its busiest size
        if ok is None:
            self.daemon.stop()
            return
        upcoming = self.daemon.next_runs().get("sync")
        when = upcoming.isoformat(timespec="minutes") if upcoming else "not scheduled"
        self.notifier.status(f"{job} {'ok' if ok else 'failed'}; next sync {when}")
        if job == "sync":
            self.daemon.wake("push")  # push follows every sync; it finds what is due itself
        if self._after_job is not None:
            await self._after_job(job, ok)


async def serve_daemon(settings: Settings) -> int:
    """`fusionbridge run`: open the runtime, serve until stopped, close web → sessions → ledger."""
    async with open_runtime(settings) as rt:
        app = DaemonApp(rt)
        return await app.serve(settings.http.host, settings.http.port)
