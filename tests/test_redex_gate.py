"""The REDEX business-account gate (SPEC §14): one process at a time sends to it.

Accounts of one process that share REDEX credentials share one hold; a second process (a
replica) waits for it, and its scheduled push is skipped, not failed, while the gate is held.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from fusionbridge.app import open_fleet
from fusionbridge.jobs.lease import LeaseHeldError
from fusionbridge.jobs.runner import SKIPPED, JobRunner
from fusionbridge.store.leases import LeaseHolder
from tests.test_accounts import Accounts, served_accounts


def _silent(_: LeaseHolder) -> None:
    pass


@pytest.fixture
async def accounts() -> AsyncIterator[Accounts]:
    async with served_accounts() as served:
        yield served


async def test_one_process_holds_a_business_account_for_all_its_accounts(
    accounts: Accounts, tmp_path: Path
) -> None:
    settings = accounts.settings(tmp_path)
    clock = accounts.virtual
    async with (
        open_fleet(settings, clock=clock) as first,
        open_fleet(settings, clock=clock) as second,
    ):
        alpha, beta, gamma = first.accounts
        assert alpha.redex_gate is beta.redex_gate, "alpha and beta share REDEX credentials"
        assert gamma.redex_gate is not alpha.redex_gate
        assert alpha.redex_gate is not None
        assert gamma.redex_gate is not None

        entered = asyncio.Event()
        release = asyncio.Event()

        async def alpha_push() -> None:
            assert alpha.redex_gate is not None
            async with alpha.redex_gate.held(alpha, 0, _silent):
                entered.set()
                await release.wait()

        holding = asyncio.create_task(alpha_push())
        await entered.wait()
        # the same process: beta enters beside alpha (they share one limiter)
        assert beta.redex_gate is not None
        async with beta.redex_gate.held(beta, 0, _silent):
            pass
        # another process: refused while alpha's push holds the business account
        other_beta = second.runtime("beta")
        assert other_beta.redex_gate is not None
        with pytest.raises(LeaseHeldError):
            async with other_beta.redex_gate.held(other_beta, 0, _silent):
                pass
        # its scheduled push is skipped (the re-check tries again), not recorded as failed
        assert await JobRunner(other_beta).run("push") == SKIPPED
        assert "push" not in await other_beta.ledger.jobs.runs()
        # gamma's business account is its own: free
        other_gamma = second.runtime("gamma")
        assert other_gamma.redex_gate is not None
        async with other_gamma.redex_gate.held(other_gamma, 0, _silent):
            pass

        release.set()
        await holding
        # given back by its last user: the other process may send now
        async with other_beta.redex_gate.held(other_beta, 0, _silent):
            pass
        assert await JobRunner(other_beta).run("push") is True
