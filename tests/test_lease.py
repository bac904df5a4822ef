"""The account lease in a real ledger on a virtual clock: taken, refused while live, taken over
when dead, waited for by a command, skipped by the daemon, and lost before the next send."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from fusionbridge.app import LeaseGuard, Runtime, open_runtime
from fusionbridge.clock import VirtualClock
from fusionbridge.jobs.lease import Lease, LeaseHeldError, LeaseLostError, command_lease
from fusionbridge.jobs.runner import SKIPPED, JobRunner
from fusionbridge.settings import Settings
from fusionbridge.store.leases import DEFAULT_ACCOUNT, LeaseHolder, LeaseRecords

T0 = datetime(2026, 2, 4, 12, 0, tzinfo=UTC)
TTL_S = 3.0


async def given_back(leases: LeaseRecords) -> bool:
    """The row stays after a give-back, marked released, naming who last held it."""
    held = await leases.holder(DEFAULT_ACCOUNT)
    return held is not None and held.released_at is not None


@pytest.fixture
async def rt(ledger_storage: dict[str, str]) -> AsyncIterator[Runtime]:
    settings = Settings.model_validate(
        {
            "timezone": "Europe/Amsterdam",
            "fusionsolar": {"username": "u", "system_code": "c"},
            "redex": {"base_url": "https://redex.invalid", "access_token": "t"},
            "storage": {**ledger_storage, "lease_ttl_s": TTL_S},
        }
    )
    async with open_runtime(settings, clock=VirtualClock(T0)) as runtime:
        yield runtime


def current(rt: Runtime) -> LeaseGuard | None:
    return rt.lease


def clock_of(rt: Runtime) -> VirtualClock:
    assert isinstance(rt.clock, VirtualClock)
    return rt.clock


async def test_a_live_lease_is_refused_and_a_dead_one_taken_over(rt: Runtime) -> None:
    leases, clock = rt.ledger.leases, clock_of(rt)
    assert await leases.take(DEFAULT_ACCOUNT, "host-a:1", "a", clock.now(), TTL_S) is None
    clock.advance(TTL_S - 0.1)
    held = await leases.take(DEFAULT_ACCOUNT, "host-b:2", "b", clock.now(), TTL_S)
    assert held == LeaseHolder("default", "host-a:1", T0, T0)
    assert await leases.renew(DEFAULT_ACCOUNT, "a", clock.now())
    clock.advance(TTL_S - 0.1)  # renewed: still live
    assert await leases.take(DEFAULT_ACCOUNT, "host-b:2", "b", clock.now(), TTL_S) is not None
    clock.advance(0.2)  # not renewed for ttl: dead
    assert await leases.take(DEFAULT_ACCOUNT, "host-b:2", "b", clock.now(), TTL_S) is None
    assert not await leases.renew(DEFAULT_ACCOUNT, "a", clock.now()), "a's lease is gone"
    await leases.give_back(DEFAULT_ACCOUNT, "a")  # not a's to give back: b keeps it
    holder = await leases.holder(DEFAULT_ACCOUNT)
    assert holder is not None
    assert holder.holder == "host-b:2"
    await leases.give_back(DEFAULT_ACCOUNT, "b")
    assert await given_back(leases)


async def test_a_command_waits_says_who_holds_it_then_names_the_holder(rt: Runtime) -> None:
    await rt.ledger.leases.take(DEFAULT_ACCOUNT, "daemon-host:42", "d", rt.clock.now(), TTL_S)
    told: list[LeaseHolder] = []

    with pytest.raises(LeaseHeldError) as refused:
        await Lease(rt).take(TTL_S / 2, told.append)

    assert [h.holder for h in told] == ["daemon-host:42"], "one line, not one per look"
    assert str(refused.value) == (
        "the ledger lease of account default is held by daemon-host:42 since 2026-02-04 12:00:00 UTC; "
        "it works on this account now, try again when it is done"
    )
    # a holder that stops renewing is dead after ttl: the next command takes over
    async with command_lease(rt, TTL_S) as lease:
        assert current(rt) is lease
        holder = await rt.ledger.leases.holder(DEFAULT_ACCOUNT)
        assert holder is not None
        assert holder.holder == lease.holder
    assert current(rt) is None
    assert await given_back(rt.ledger.leases), "given back at the end"


async def test_the_daemon_skips_a_job_while_a_command_holds_the_lease(rt: Runtime) -> None:
    await rt.ledger.leases.take(DEFAULT_ACCOUNT, "cli-host:7", "c", rt.clock.now(), TTL_S)
    runner = JobRunner(rt)

    assert await runner.run("push") == SKIPPED
    assert "push" not in await rt.ledger.jobs.runs(), "a skipped job is not a run"

    await rt.ledger.leases.give_back(DEFAULT_ACCOUNT, "c")
    assert await runner.run("push") is True
    assert (await rt.ledger.jobs.runs())["push"].successes == 1
    assert await given_back(rt.ledger.leases)


async def test_a_lease_taken_over_stops_its_old_holder_before_the_next_send(rt: Runtime) -> None:
    lease = Lease(rt)
    assert await lease.try_take() is None
    lease.ensure()
    clock_of(rt).advance(TTL_S + 1)  # it hung past its ttl; another process took over
    await rt.ledger.leases.take(DEFAULT_ACCOUNT, "other:9", "o", rt.clock.now(), TTL_S)
    lease.renew_every_s = 0.0

    await lease.renew_forever()  # the first renewal finds the lease gone and stops

    assert lease.lost
    with pytest.raises(LeaseLostError, match="not renewed within 3 s"):
        lease.ensure()
