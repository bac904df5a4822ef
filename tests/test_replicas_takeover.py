"""A replica killed mid-job (SPEC §14): another one finishes the work within about the lease ttl.

Real `python -m fusionbridge run` processes on one PostgreSQL ledger against the simulators of
three accounts. One account's FusionSolar or REDEX holds a request open on purpose, so the job
is surely in flight when the replica is killed.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from fusionbridge.simulator.redex import Fault
from fusionbridge.store.leases import LeaseHolder
from tests.postgres_server import PostgresServer
from tests.replica_harness import (
    OWN_REDEX,
    START_S,
    TTL_S,
    assert_sent_once,
    hold_first_data_request,
    monthly,
    serve_rig,
)
from tests.replica_process import (
    Child,
    jobs_done,
    mid_request,
    replica,
    until,
)

SLOW = "south"
"""The account whose FusionSolar sits on the first data request until the test lets it go."""
TAKEOVER_SLACK_S = 2.0
"""What a busy machine may add to the re-check period before the survivor takes the lease."""


@pytest.mark.timeout(150)  # two replicas, one killed mid-sync; the other finishes the work
async def test_a_replica_killed_mid_sync_is_taken_over_within_the_lease_ttl(
    tmp_path: Path, postgres: PostgresServer
) -> None:
    async with serve_rig(postgres.database()) as rig:
        config = rig.write_config(tmp_path / "fusionbridge.toml")
        slow = rig.account(SLOW)
        hold_first_data_request(slow)  # never answered: the doomed replica dies waiting
        loop = asyncio.get_running_loop()
        async with replica(rig, config) as doomed:
            await mid_request(rig, doomed, slow)
            async with replica(rig, config) as survivor:
                # the survivor's catch-up found south's lease held and left it alone
                await survivor.wait_event("job.lease_held", START_S, account=SLOW, job="sync")
                killed_at = loop.time()
                doomed.process.kill()
                assert await doomed.finish() == -9
                last = await rig.lease(SLOW)
                noticed = await survivor.wait_event(
                    "daemon.recheck_due",
                    10 * TTL_S,
                    after=killed_at,
                    job="sync",
                    accounts=[SLOW],
                )
                expected = slow.due(datetime.now(UTC))
                done = await until(
                    lambda: expected.items() <= rig.held().items(),
                    START_S,
                    "south's months at REDEX",
                )
                await until(lambda: jobs_done(survivor, "push"), START_S, "every push recorded")
                status, document = await survivor.json("/status")
                alive = survivor.alive
                code = await survivor.terminate()
                refusals = [a.refusals() for a in rig.accounts]  # the held request aside

    after_death = took_over(last, doomed, survivor, document["accounts"][SLOW]["jobs"]["sync"])
    assert alive
    assert code == 0, survivor.stderr[-2000:]
    assert_sent_once(rig)
    for account in rig.accounts:
        assert account.logins() == ["ok"], account.name  # the survivor used the stored token
    assert refusals == [0, 0, 0], "the survivor kept the stored pacing: no 407"
    assert status == 200
    assert document["workers"][SLOW]["last_worked_by"] == survivor.holder
    assert not survivor.events("daemon.fatal")
    print(
        f"\nkilled mid-sync: the survivor took the lease {after_death:.2f} s after it died "
        f"(lease_ttl_s {TTL_S:g}; re-check found it due {noticed.at - killed_at:.2f} s after "
        f"SIGKILL); south's months at REDEX {done - killed_at:.2f} s after SIGKILL; logins "
        f"{[len(a.logins()) for a in rig.accounts]}; items per month {set(rig.sent().values())}"
    )


@pytest.mark.timeout(150)  # two replicas, one killed while its request waits at REDEX
async def test_a_replica_killed_mid_push_is_taken_over_and_repeats_one_request(
    tmp_path: Path, postgres: PostgresServer
) -> None:
    async with serve_rig(postgres.database()) as rig:
        config = rig.write_config(tmp_path / "fusionbridge.toml")
        east = rig.account(OWN_REDEX)
        # east's REDEX never answers the doomed replica's request
        east.redex.inject("monthly_data", Fault.held_until(asyncio.Event()))
        loop = asyncio.get_running_loop()
        async with replica(rig, config) as doomed:
            await until(lambda: monthly(east) == [0], START_S, "the doomed push of east at REDEX")
            async with replica(rig, config) as survivor:
                await survivor.wait_event("job.lease_held", START_S, account=OWN_REDEX)
                killed_at = loop.time()
                doomed.process.kill()
                assert await doomed.finish() == -9
                last = await rig.lease(OWN_REDEX)
                await until(lambda: rig.held() == rig.due(), START_S, "every month at REDEX")
                done = loop.time()
                await until(lambda: jobs_done(survivor, "push"), START_S, "every push recorded")
                status, document = await survivor.json("/status")
                alive = survivor.alive
                code = await survivor.terminate()

    after_death = took_over(last, doomed, survivor, document["accounts"][OWN_REDEX]["jobs"]["push"])
    assert alive
    assert code == 0, survivor.stderr[-2000:]
    # the request in flight at the kill never reached REDEX's books; its months went out again
    assert monthly(east) == [0, 201]
    [recovered] = survivor.events("push.recovered")
    assert recovered.record["months"] == len(east.inverters)
    assert_sent_once(rig)
    for account in rig.accounts:
        assert account.logins() == ["ok"], account.name
    assert status == 200
    assert document["workers"][OWN_REDEX]["last_worked_by"] == survivor.holder
    assert not survivor.events("daemon.fatal")
    print(
        f"\nkilled mid-push: the survivor took the lease {after_death:.2f} s after it died "
        f"(lease_ttl_s {TTL_S:g}); east's months at REDEX {done - killed_at:.2f} s after SIGKILL; "
        f"one request repeated ({recovered.record['months']} months); items per month "
        f"{set(rig.sent().values())}"
    )


def took_over(
    last: LeaseHolder | None, doomed: Child, survivor: Child, run: dict[str, Any]
) -> float:
    """Seconds between the dead lease's expiry and the survivor's start of the job (its record)."""
    assert last is not None
    assert last.holder == doomed.holder
    assert run["last_run_by"] == survivor.holder
    death = last.renewed_at + timedelta(seconds=TTL_S)
    after_death = (datetime.fromisoformat(run["last_started_at"]) - death).total_seconds()
    assert after_death >= 0, "the survivor took a live lease"
    assert after_death <= TTL_S + TAKEOVER_SLACK_S, f"took over {after_death:.2f} s after death"
    return after_death
