"""The replicas' re-check (SPEC §14): a run that ends while it looks is finished, not cut short.

The re-check reads each account's lease and its job runs. Another process may end a run between
those two reads; only a run still marked running after its lease was seen free was cut short
(its process died). The test ends the other process's run at exactly that moment.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from fusionbridge.app import open_runtime
from fusionbridge.daemon.service import DaemonApp
from fusionbridge.store.leases import DEFAULT_ACCOUNT, LeaseHolder
from tests.daemon_harness import World

TTL_S = 30.0
OTHER, TOKEN = "other-host:7", "other-token"


async def test_a_run_that_ends_during_the_recheck_is_not_run_again(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = world.settings(
        tmp_path, storage={"path": str(tmp_path / "l.db"), "lease_ttl_s": TTL_S}
    )
    async with open_runtime(settings, clock=world.clock) as rt:
        app = DaemonApp(rt)
        ledger, clock = rt.ledger, world.clock
        await ledger.leases.take(DEFAULT_ACCOUNT, OTHER, TOKEN, clock.now(), TTL_S)
        await ledger.jobs.started("sync", clock.now(), holder=OTHER)
        clock.advance(5)  # the other process works: its account is not due
        assert await app.due_from_ledger() == {}

        read = ledger.leases.holder

        async def other_finishes_first(account: str) -> LeaseHolder | None:
            """The other process ends its run and gives its lease back just before this read."""
            await ledger.jobs.finished("sync", clock.now(), True, None)
            await ledger.leases.give_back(account, TOKEN)
            return await read(account)

        monkeypatch.setattr(ledger.leases, "holder", other_finishes_first)
        due = await app.due_from_ledger()
        assert "sync" not in due, "a sync that ended during the re-check was taken for dead"


async def test_a_run_left_running_without_a_live_lease_is_due_unless_it_started_just_now(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = world.settings(
        tmp_path, storage={"path": str(tmp_path / "l.db"), "lease_ttl_s": TTL_S}
    )
    async with open_runtime(settings, clock=world.clock) as rt:
        app = DaemonApp(rt)
        ledger, clock = rt.ledger, world.clock
        await ledger.leases.take(DEFAULT_ACCOUNT, OTHER, TOKEN, clock.now(), TTL_S)
        await ledger.jobs.started("sync", clock.now(), holder=OTHER)
        clock.advance(TTL_S + 1)  # the other process died mid-run
        assert (await app.due_from_ledger()).get("sync") == frozenset({DEFAULT_ACCOUNT})

        read = ledger.leases.holder

        def then_another_starts(
            before: Callable[[str], Awaitable[LeaseHolder | None]],
        ) -> Callable[[str], Awaitable[LeaseHolder | None]]:
            async def look(account: str) -> LeaseHolder | None:
                seen = await before(account)  # free: the dead lease
                await ledger.leases.take(account, "third:9", "t", clock.now(), TTL_S)
                await ledger.jobs.started("sync", clock.now(), holder="third:9")
                return seen

            return look

        monkeypatch.setattr(ledger.leases, "holder", then_another_starts(read))
        assert "sync" not in await app.due_from_ledger(), "a run begun after the look is alive"
