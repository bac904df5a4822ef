"""The daemon's lifecycle: wake on schedule, run one job at a time, catch up, stop cleanly.

Every task here has an owner: the worker that runs jobs, the re-check and the watchdog pinger
belong to the Daemon and are awaited or cancelled on the way out. The scheduler only enqueues
job names; a job runs for every account the process serves, or for the accounts a catch-up
or a re-check found it due for (SPEC §14).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Awaitable, Callable
from datetime import datetime

from fusionbridge.clock import Clock
from fusionbridge.daemon.schedule import JobName, Schedule, build_scheduler
from fusionbridge.daemon.systemd import Notifier
from fusionbridge.logs import get_logger

log = get_logger(__name__)

Accounts = frozenset[str] | None
"""Which accounts a queued job is for; None: every account the process serves."""
RunJob = Callable[[JobName, Accounts], Awaitable[None]]
LastRuns = Callable[[], Awaitable[dict[str, dict[str, datetime | None]]]]
"""When each account's jobs last succeeded: account -> job -> time (None: never)."""
Recheck = Callable[[], Awaitable[dict[JobName, frozenset[str]]]]
"""Which accounts each job is due for, judged from the ledger alone."""
SHUTDOWN_GRACE_S = 30.0


class Daemon:
    """Owns the scheduler, the job worker and the watchdog; `serve()` returns when stopped."""

    def __init__(
        self,
        *,
        schedule: Schedule,
        run_job: RunJob,
        last_runs: LastRuns,
        clock: Clock,
        notifier: Notifier | None = None,
        shutdown_grace_s: float = SHUTDOWN_GRACE_S,
        recheck: Recheck | None = None,
        recheck_s: float = 30.0,
    ) -> None:
        self._schedule = schedule
        self._run_job = run_job
        self._last_runs = last_runs
        self._recheck = recheck
        self._recheck_s = recheck_s
        self._clock = clock
        self._notifier = notifier or Notifier({})
        self._grace = shutdown_grace_s
        self._queue: asyncio.Queue[JobName] = asyncio.Queue()
        self._stop = asyncio.Event()
        self._stopping = False
        self._scheduler_running = False
        self._pending: dict[JobName, Accounts] = {}
        self._idle = asyncio.Event()
        self._idle.set()
        self._current: JobName | None = None
        self.completed: list[JobName] = []

    @property
    def current_job(self) -> JobName | None:
        return self._current

    def alive(self) -> bool:
        """Running, scheduler up, not shutting down."""
        return self._scheduler_running and not self._stopping

    def next_runs(self) -> dict[str, datetime | None]:
        now = self._clock.now()
        return {job: self._schedule.next_run(job, now) for job in ("sync", "push", "live")}

    def waiting(self) -> frozenset[JobName]:
        """Jobs queued and not yet started."""
        return frozenset(self._pending)

    def wake(self, job: JobName, accounts: Accounts = None) -> None:
        """Queue a job (for some accounts, or all); a job already waiting takes them on."""
        if self._stopping:
            return
        if job in self._pending:
            queued = self._pending[job]
            self._pending[job] = None if queued is None or accounts is None else queued | accounts
            return
        self._pending[job] = accounts
        self._queue.put_nowait(job)

    def stop(self) -> None:
        """Ask the daemon to stop; safe from a signal handler."""
        self._stop.set()

    async def catch_up(self) -> list[JobName]:
        """Queue whatever was scheduled while we were down (a sync is followed by a push)."""
        last = await self._last_runs()
        now = self._clock.now()
        missed: dict[JobName, set[str]] = {"sync": set(), "push": set()}
        for account, runs in last.items():
            if self._schedule.missed("sync", runs.get("sync"), now):
                missed["sync"].add(account)
                missed["push"].add(account)
            elif self._schedule.missed("push", runs.get("push"), now):
                missed["push"].add(account)
        queued: list[JobName] = [job for job in ("sync", "push") if missed[job]]
        for job in queued:
            self.wake(job, frozenset(missed[job]))
        if queued:
            log.info("daemon.catch_up", jobs=queued, accounts=len(missed["push"]))
        return queued

    async def serve(self, on_ready: Callable[[], Awaitable[None]] | None = None) -> None:
        """Run until stop(): scheduler + worker (+ watchdog), then shut down in order."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, self.stop)
        scheduler = build_scheduler(self._schedule, self.wake)
        scheduler.start()
        self._scheduler_running = True
        worker = asyncio.create_task(self._work(), name="fusionbridge-worker")
        rechecker = (
            asyncio.create_task(self._recheck_forever(self._recheck), name="fusionbridge-recheck")
            if self._recheck is not None
            else None
        )
        watchdog = (
            asyncio.create_task(
                self._ping(self._notifier.watchdog_interval_s), name="fusionbridge-watchdog"
            )
            if self._notifier.watchdog_interval_s
            else None
        )
        try:
            await self.catch_up()
            if on_ready is not None:
                await on_ready()
            await self._stop.wait()
        finally:
            self._stopping = True
            self._notifier.stopping()
            log.info("daemon.stopping", job_in_flight=self._current)
            scheduler.shutdown(wait=False)
            self._scheduler_running = False
            for helper in (rechecker, watchdog):
                if helper is not None:
                    helper.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await helper
            await self._finish(worker)
            for sig in (signal.SIGTERM, signal.SIGINT):
                with contextlib.suppress(NotImplementedError, RuntimeError):
                    loop.remove_signal_handler(sig)

    async def _finish(self, worker: asyncio.Task[None]) -> None:
        """Let the job in flight end within the grace period, then cancel the worker."""
        if not self._idle.is_set():
            try:
                await asyncio.wait_for(self._idle.wait(), timeout=self._grace)
            except TimeoutError:
                log.warning("daemon.job_abandoned", job=self._current, grace_s=self._grace)
        worker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await worker

    async def _work(self) -> None:
        while True:
            job = await self._queue.get()
            accounts = self._pending.pop(job, None)
            if self._stopping:
                return
            self._current = job
            self._idle.clear()
            try:
                await self._run_job(job, accounts)
            except asyncio.CancelledError:
                raise
            except Exception:  # a failed job is logged and retried at its next time
                log.exception("daemon.job_failed", job=job)
            finally:
                self._current = None
                self._idle.set()
                self.completed.append(job)

    async def _recheck_forever(self, recheck: Recheck) -> None:
        """Every `recheck_s`, queue what the ledger says is due: how a dead replica's work ends."""
        while True:
            await asyncio.sleep(self._recheck_s)  # real time, like the watchdog: not the job clock
            try:
                due = await recheck()
            except Exception as exc:  # the ledger may be down: the next look tries again
                log.warning("daemon.recheck_failed", error=type(exc).__name__)
                continue
            for job, accounts in due.items():
                log.info("daemon.recheck_due", job=job, accounts=sorted(accounts))
                self.wake(job, accounts)

    async def _ping(self, interval: float) -> None:
        while True:
            self._notifier.watchdog()
            await asyncio.sleep(interval)
