"""Replicas share the accounts (SPEC §14): two `run` processes, and a CLI next to one, on PostgreSQL.

Real `python -m fusionbridge` processes on one PostgreSQL ledger, three accounts with their own
FusionSolar simulators, two REDEX business accounts. What the simulators recorded judges: each
due month reached REDEX once, each FusionSolar account saw one login, nothing was refused.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from fusionbridge.simulator.redex import Fault
from tests.postgres_server import PostgresServer
from tests.replica_harness import (
    ACCOUNTS,
    OWN_REDEX,
    START_S,
    assert_sent_once,
    monthly,
    serve_rig,
)
from tests.replica_process import (
    jobs_done,
    replica,
    replicas,
    spawned,
    until,
)

WAITING = "waiting up to 60 s for the ledger lease of account east held by"


@pytest.mark.timeout(150)  # two real replicas: start-up, three paced syncs, pushes, shutdown
async def test_two_replicas_share_three_accounts_and_send_each_month_once(
    tmp_path: Path, postgres: PostgresServer
) -> None:
    async with serve_rig(postgres.database()) as rig:
        config = rig.write_config(tmp_path / "fusionbridge.toml")
        started = asyncio.get_running_loop().time()
        async with replicas(rig, config, 2) as both:
            first, second = both
            done = await until(lambda: rig.held() == rig.due(), START_S, "every due month at REDEX")
            await until(lambda: jobs_done(first, "push"), START_S, "every account's push recorded")
            statuses = [await r.json("/status") for r in both]
            metrics = [await r.get("/metrics") for r in both]
            livez = [await r.json("/livez") for r in both]
            alive = [r.alive for r in both]
            codes = [await r.terminate() for r in both]
        elapsed = asyncio.get_running_loop().time() - started

    assert alive == [True, True]
    assert codes == [0, 0], first.stderr[-2000:] + second.stderr[-2000:]
    assert livez == [(200, {"status": "ok"})] * 2
    sent = assert_sent_once(rig)
    for account in rig.accounts:
        assert account.logins() == ["ok"], account.name  # one login, whoever synced it
        assert account.refusals() == 0, account.fusionsolar.calls
    for account in rig.accounts:  # east's months went to east's own REDEX business account
        at_its_redex = {inverter for inverter, _, _ in account.redex.accepted}
        assert {e["remote_inv_id"] for e in account.inverters} <= at_its_redex
    assert {inverter for inverter, _, _ in rig.account(OWN_REDEX).redex.accepted} == {
        e["remote_inv_id"] for e in rig.account(OWN_REDEX).inverters
    }
    holders = {first.holder, second.holder}
    for status, document in statuses:
        assert status == 200
        assert set(document["accounts"]) == set(ACCOUNTS)
        assert set(document["workers"]) == set(ACCOUNTS)
        for name in ACCOUNTS:
            assert document["workers"][name]["last_worked_by"] in holders, document["workers"]
            assert document["accounts"][name]["jobs"]["push"]["last_run_by"] in holders
    for status, text in metrics:
        assert status == 200
        for name in ACCOUNTS:
            assert f'account="{name}"' in text
    shown = "".join(c.stderr for c in both) + repr(statuses) + repr(metrics)
    assert not [secret for secret in rig.secrets() if secret in shown]
    for child in both:
        assert "Traceback" not in child.stderr
        assert not child.events("daemon.fatal")
    workers = {n: statuses[0][1]["workers"][n]["last_worked_by"] for n in ACCOUNTS}
    print(
        f"\nreplicas: {len(sent)} months, each sent {set(sent.values())} time(s); logins "
        f"{[len(a.logins()) for a in rig.accounts]}; all at REDEX after {done - started:.1f} s, "
        f"test {elapsed:.1f} s; last worked by {workers} "
        f"(first={first.holder}, second={second.holder})"
    )


@pytest.mark.timeout(150)  # a replica and four CLI processes
async def test_cli_push_next_to_a_replica_waits_or_names_the_holder(
    tmp_path: Path, postgres: PostgresServer
) -> None:
    async with serve_rig(postgres.database()) as rig:
        config = rig.write_config(tmp_path / "fusionbridge.toml")
        east = rig.account(OWN_REDEX)
        gate = asyncio.Event()  # east's REDEX sits on the replica's push until the CLI waits
        east.redex.inject("monthly_data", Fault.held_until(gate))
        async with replica(rig, config) as daemon:
            await until(lambda: monthly(east) == [0], START_S, "the replica's push of east held")
            refusing = ("push", "--account", "east", "--lease-wait", "0")
            async with spawned(rig, config, *refusing) as cli:
                refused = await cli.finish()
            # another account's lease is simply taken, while east's request is still out
            free = ("push", "--account", "north", "--lease-wait", "0", "--wait", "5")
            async with spawned(rig, config, *free) as beside:
                pushed = await beside.finish()
            patient = ("push", "--account", "east", "--lease-wait", "60", "--wait", "5")
            async with spawned(rig, config, *patient) as waiting:
                await waiting.wait_text(WAITING, START_S)
                gate.set()
                waited = await waiting.finish()
            # south syncs again from the CLI, with the token the replica stored
            again = ("sync", "--account", "south", "--lease-wait", "0")
            async with spawned(rig, config, *again) as other:
                synced = await other.finish()
            status, document = await daemon.json("/status")
            livez = await daemon.json("/livez")
            alive = daemon.alive
            code = await daemon.terminate()

    assert refused == 1, cli.stderr
    assert f"the ledger lease of account east is held by {daemon.holder} since" in cli.stderr
    assert waited == 0, waiting.stderr
    assert f"{WAITING} {daemon.holder}" in waiting.stderr
    assert pushed == 0, beside.stderr
    assert not beside.events("push.recovered"), "north's push closed east's request in flight"
    assert synced == 0, other.stderr
    for child in (cli, beside, waiting, other):
        assert "Traceback" not in child.stderr
    assert alive
    assert livez == (200, {"status": "ok"})
    assert code == 0, daemon.stderr[-2000:]
    assert_sent_once(rig)
    assert monthly(east) == [201], "east's months went out once, in the replica's request"
    for account in rig.accounts:
        assert account.logins() == ["ok"], account.name  # the CLI sync used the stored token
        assert account.refusals() == 0, account.fusionsolar.calls
    assert status == 200
    workers = document["workers"]
    assert workers["east"]["last_worked_by"] == waiting.holder  # the CLI worked on it last
    assert workers["east"]["lease_holder"] is None
    assert workers["south"]["last_worked_by"] == other.holder
    assert workers["north"]["last_worked_by"] == beside.holder
