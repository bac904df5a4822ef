"""The daemon's lifecycle: wake on schedule, run one job at a time, catch up, stop cleanly.

Every task here has an owner: the worker that runs jobs and the watchdog pinger belong to the
Daemon and are awaited or cancelled on the way out. The scheduler only enqueues job names.
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

RunJob = Callable[[JobName], Awaitable[None]]
LastRuns = Callable[[], Awaitable[dict[str, datetime | None]]]
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
    ) -> None:
        self._schedule = schedule
        self._run_job = run_job
        self._last_runs = last_runs
        self._clock = clock
        self._notifier = notifier or Notifier({})
        self._grace = shutdown_grace_s
        self._queue: asyncio.Queue[JobName] = asyncio.Queue()
        self._stop = asyncio.Event()
        self._stopping = False
        self._scheduler_running = False
        self._pending: set[JobName] = set()
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

    def wake(self, job: JobName) -> None:
        """Queue a job unless it is already waiting (coalesce), and unless we are stopping."""
        if self._stopping or job in self._pending:
            return
        self._pending.add(job)
        self._queue.put_nowait(job)

    def stop(self) -> None:
        """Ask the daemon to stop; safe from a signal handler."""
        self._stop.set()

    async def catch_up(self) -> list[JobName]:
        """Queue whatever was scheduled while we were down (a sync is followed by a push)."""
        last = await self._last_runs()
        now = self._clock.now()
        queued: list[JobName] = []
        if self._schedule.missed("sync", last.get("sync"), now):
            queued.append("sync")
        if self._schedule.missed("push", last.get("push"), now) or queued:
            queued.append("push")
        for job in queued:
            self.wake(job)
        if queued:
            log.info("daemon.catch_up", jobs=queued)
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
            await self._finish(worker)
            if watchdog is not None:
                watchdog.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await watchdog
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
            self._pending.discard(job)
            if self._stopping:
                return
            self._current = job
            self._idle.clear()
            try:
                await self._run_job(job)
            except asyncio.CancelledError:
                raise
            except Exception:  # a failed job is logged and retried at its next time
                log.exception("daemon.job_failed", job=job)
            finally:
                self._current = None
                self._idle.set()
                self.completed.append(job)

    async def _ping(self, interval: float) -> None:
        while True:
            self._notifier.watchdog()
            await asyncio.sleep(interval)
