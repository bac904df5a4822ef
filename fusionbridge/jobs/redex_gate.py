"""One process at a time sends to a REDEX business account (SPEC §14), held in the ledger.

REDEX counts 5 requests per 5 s per business account. In one process the accounts that share
its credentials share one limiter; across replicas they would not, so a push holds the business
account's gate, a lease named after its `redex_key`. The accounts of one process share one
hold of it (counted), so they still push side by side under their shared limiter.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from fusionbridge.store.leases import LeaseHolder

if TYPE_CHECKING:  # app.py makes the gates: no import cycle at run time
    from fusionbridge.app import Runtime


def gate_name(redex_key: str) -> str:
    """The gate's row in the leases table: not an account name (`[a-z0-9-]+`) by its colon."""
    return f"redex:{redex_key[:16]}"


class RedexGate:
    """This process's hold on one REDEX business account, shared by its accounts."""

    def __init__(self, redex_key: str) -> None:
        self.name = gate_name(redex_key)
        self._lock = asyncio.Lock()
        self._users = 0
        self._hold: contextlib.AsyncExitStack | None = None

    @asynccontextmanager
    async def held(
        self, rt: Runtime, wait_s: float, on_wait: Callable[[LeaseHolder], None]
    ) -> AsyncIterator[None]:
        """Hold the gate for the block: taken by the first user, given back by the last."""
        from fusionbridge.jobs.lease import Lease, renewed

        async with self._lock:
            if self._users == 0:
                lease = Lease(rt, self.name)
                await lease.take(wait_s, on_wait)
                stack = contextlib.AsyncExitStack()
                await stack.enter_async_context(renewed(lease))
                self._hold = stack
            self._users += 1
        try:
            yield
        finally:
            async with self._lock:
                self._users -= 1
                if self._users == 0 and self._hold is not None:
                    hold, self._hold = self._hold, None
                    await hold.aclose()


@asynccontextmanager
async def redex_turn(
    rt: Runtime, job: str, *, wait_s: float, on_wait: Callable[[LeaseHolder], None]
) -> AsyncIterator[None]:
    """Hold the business account's gate around a push (other jobs do not send to REDEX)."""
    if job != "push" or rt.redex_gate is None:
        yield
        return
    async with rt.redex_gate.held(rt, wait_s, on_wait):
        yield
