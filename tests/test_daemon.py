"""Daemon lifecycle: catch-up at start, one job at a time, clean shutdown with a job in flight."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from fusionbridge.clock import VirtualClock
from fusionbridge.daemon.lifecycle import Accounts, Daemon, LastRuns
from fusionbridge.daemon.schedule import JobName, Schedule
from fusionbridge.settings import Settings

NOW = datetime(2026, 2, 4, 12, 0, tzinfo=UTC)
SETTINGS = Settings.model_validate(
    {
        "timezone": "Europe/Amsterdam",
        "fusionsolar": {"username": "u", "system_code": "c"},
        "redex": {"base_url": "https://redex.invalid", "access_token": "t"},
    }
)


def make_daemon(
    run_job: Callable[[JobName, Accounts], Awaitable[None]],
    last_runs: LastRuns,
    shutdown_grace_s: float = 30.0,
) -> Daemon:
    return Daemon(
        schedule=Schedule.from_settings(SETTINGS),
        run_job=run_job,
        last_runs=last_runs,
        clock=VirtualClock(NOW),
        shutdown_grace_s=shutdown_grace_s,
    )


def other_tasks() -> set[asyncio.Task[object]]:
    return {t for t in asyncio.all_tasks() if t is not asyncio.current_task()}


async def test_catch_up_runs_missed_sync_then_push_and_stops_cleanly() -> None:
    ran: list[JobName] = []
    both_done = asyncio.Event()

    async def run_job(job: JobName, accounts: Accounts = None) -> None:
        ran.append(job)
        if len(ran) == 2:
            both_done.set()

    async def last_runs() -> dict[str, dict[str, datetime | None]]:
        return {
            "default": {"sync": NOW - timedelta(days=3), "push": datetime(2026, 1, 20, tzinfo=UTC)}
        }

    before = other_tasks()
    daemon = make_daemon(run_job, last_runs)
    serving = asyncio.create_task(daemon.serve())
    await asyncio.wait_for(both_done.wait(), 5)
    assert daemon.alive()
    daemon.stop()
    await asyncio.wait_for(serving, 5)
    assert ran == ["sync", "push"]
    assert not daemon.alive()
    assert other_tasks() == before


async def test_nothing_missed_means_nothing_runs() -> None:
    ran: list[JobName] = []

    async def run_job(job: JobName, accounts: Accounts = None) -> None:
        ran.append(job)

    async def last_runs() -> dict[str, dict[str, datetime | None]]:
        return {
            "default": {
                "sync": NOW - timedelta(hours=1),
                "push": datetime(2026, 2, 3, 6, 1, tzinfo=UTC),
            }
        }

    daemon = make_daemon(run_job, last_runs)
    assert await daemon.catch_up() == []


async def test_shutdown_waits_for_the_job_in_flight() -> None:
    started = asyncio.Event()
    release = asyncio.Event()
    finished: list[str] = []

    async def run_job(job: JobName, accounts: Accounts = None) -> None:
        started.set()
        await release.wait()
        finished.append(job)

    async def last_runs() -> dict[str, dict[str, datetime | None]]:
        return {"default": {"sync": None, "push": None}}

    before = other_tasks()
    daemon = make_daemon(run_job, last_runs)
    serving = asyncio.create_task(daemon.serve())
    await asyncio.wait_for(started.wait(), 5)
    daemon.stop()
    await asyncio.sleep(0)
    assert not serving.done()  # still draining the sync in flight
    assert not daemon.alive()
    release.set()
    await asyncio.wait_for(serving, 5)
    assert finished == ["sync"]  # the queued push was not started after the stop
    assert other_tasks() == before


async def test_a_job_that_hangs_is_abandoned_after_the_grace_period() -> None:
    started = asyncio.Event()

    async def run_job(job: JobName, accounts: Accounts = None) -> None:
        started.set()
        await asyncio.Event().wait()

    async def last_runs() -> dict[str, dict[str, datetime | None]]:
        return {"default": {"sync": None, "push": None}}

    daemon = make_daemon(run_job, last_runs, shutdown_grace_s=0.01)
    serving = asyncio.create_task(daemon.serve())
    await asyncio.wait_for(started.wait(), 5)
    daemon.stop()
    await asyncio.wait_for(serving, 5)
    assert daemon.current_job is None


async def test_a_failing_job_does_not_stop_the_worker() -> None:
    ran: list[JobName] = []
    both = asyncio.Event()

    async def run_job(job: JobName, accounts: Accounts = None) -> None:
        ran.append(job)
        if job == "sync":
            raise RuntimeError("upstream down")
        both.set()

    async def last_runs() -> dict[str, dict[str, datetime | None]]:
        return {"default": {"sync": None, "push": None}}

    daemon = make_daemon(run_job, last_runs)
    serving = asyncio.create_task(daemon.serve())
    await asyncio.wait_for(both.wait(), 5)
    daemon.stop()
    await asyncio.wait_for(serving, 5)
    assert ran == ["sync", "push"]


async def test_catch_up_queues_each_job_only_for_the_accounts_that_missed_it() -> None:
    calls: list[tuple[JobName, Accounts]] = []

    async def run_job(job: JobName, accounts: Accounts = None) -> None:
        calls.append((job, accounts))

    async def last_runs() -> dict[str, dict[str, datetime | None]]:
        fresh: dict[str, datetime | None] = {
            "sync": NOW - timedelta(hours=1),
            "push": datetime(2026, 2, 3, 6, 1, tzinfo=UTC),
        }
        return {
            "north": fresh,
            "south": {"sync": None, "push": None},  # never ran: sync, then push
            "east": fresh | {"push": datetime(2026, 1, 3, 6, 1, tzinfo=UTC)},  # missed a push
        }

    daemon = make_daemon(run_job, last_runs)
    assert await daemon.catch_up() == ["sync", "push"]
    daemon.wake("push", frozenset({"west"}))  # a waiting job takes on more accounts
    assert daemon._pending == {
        "sync": frozenset({"south"}),
        "push": frozenset({"south", "east", "west"}),
    }
    daemon.wake("sync")  # a trigger: every account
    assert daemon._pending["sync"] is None
