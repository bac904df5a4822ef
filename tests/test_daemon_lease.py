"""The daemon's job and a command's lease: the job skips its trigger while the lease is held and
looks again within `lease_ttl_s`, then runs once the command gave the lease back."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from fusionbridge.daemon.schedule import JobName
from fusionbridge.jobs.runner import SKIPPED
from fusionbridge.store import Ledger
from fusionbridge.store.leases import DEFAULT_ACCOUNT, LeaseRecords
from tests.daemon_harness import DEADLINE_S, World, running

TTL_S = 0.2


async def given_back(leases: LeaseRecords) -> bool:
    """The row stays after a give-back, marked released, naming who last held it."""
    held = await leases.holder(DEFAULT_ACCOUNT)
    return held is not None and held.released_at is not None


async def test_a_daemon_job_skips_while_a_command_holds_the_lease_then_runs(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = world.settings(tmp_path, storage={"lease_ttl_s": TTL_S})
    async with Ledger.open(settings.storage, world.clock) as ledger:  # a CLI command is at work
        await ledger.leases.take(DEFAULT_ACCOUNT, "cli-host:7", "cli", world.clock.now(), TTL_S)

    async with running(settings, world.clock, until=0) as daemon:
        skipped: list[JobName] = []
        looked_again = asyncio.Event()
        run = daemon.app.runner.run

        async def watched(job: JobName) -> object:
            result = await run(job)
            if result == SKIPPED:
                skipped.append(job)
                looked_again.set()
            return result

        monkeypatch.setattr(daemon.app.runner, "run", watched)
        await asyncio.wait_for(looked_again.wait(), DEADLINE_S)  # a re-check within the ttl
        assert daemon.jobs_done == [], "nothing ran while the command held the lease"
        assert set(skipped) <= {"sync", "push", "live"}
        assert await daemon.rt.ledger.jobs.runs() == {}, "a skipped trigger is not a run"

        await daemon.rt.ledger.leases.give_back(DEFAULT_ACCOUNT, "cli")
        await daemon.wait_jobs(2)

        assert daemon.jobs_done == [("sync", True), ("push", True)]
        assert daemon.app.daemon.alive()
    # the daemon stopped: every job gave it back
    async with Ledger.open(settings.storage, world.clock) as ledger:
        assert await given_back(ledger.leases), "given back"
