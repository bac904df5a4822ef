"""Hold the account's lease around a command or a daemon job, renewing it while the work runs.

SPEC §10: only the holder calls FusionSolar or REDEX for the account or changes its
submissions, so a CLI `push` next to the daemon waits for the daemon's job instead of
overlapping it, and crash recovery only ever recovers a dead holder's requests.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime

from fusionbridge.app import Runtime
from fusionbridge.errors import FusionBridgeError, LedgerError
from fusionbridge.logs import get_logger
from fusionbridge.store.job_runs import redact_error
from fusionbridge.store.leases import LeaseHolder

log = get_logger(__name__)

DEFAULT_LEASE_WAIT_S = 120.0
"""How long a CLI command waits for a busy account before it exits 1 naming the holder."""
WAIT_POLL_S = 0.5
"""How often a waiting process looks again; the holder gives the lease back as it finishes."""


class LeaseHeldError(FusionBridgeError):
    """Another live process holds the account's lease."""

    def __init__(self, holder: LeaseHolder) -> None:
        super().__init__(
            f"the ledger lease of account {holder.account} is held by {holder.holder} since "
            f"{_when(holder.taken_at)}; it works on this account now, try again when it is done"
        )
        self.holder = holder


class LeaseLostError(FusionBridgeError):
    """Our lease was not renewed in time and another process took it over."""


def holder_name() -> str:
    """`host:pid`: enough for an operator to find the process holding the lease."""
    return f"{socket.gethostname()}:{os.getpid()}"


def _when(at: datetime) -> str:
    return at.strftime("%Y-%m-%d %H:%M:%S UTC")


class Lease:
    """Our claim on one account; `ensure()` before every upstream write."""

    def __init__(self, rt: Runtime, name: str | None = None) -> None:
        self._rt = rt
        self.account = name or rt.account  # another name: a REDEX business account's gate
        self.holder = holder_name()
        self._token = secrets.token_hex(8)
        self._ttl_s = rt.settings.storage.lease_ttl_s
        self.renew_every_s = self._ttl_s / 3
        self.lost = False

    async def try_take(self) -> LeaseHolder | None:
        """Take the lease if free or dead; None when we hold it, else who does."""
        rt = self._rt
        return await rt.ledger.leases.take(
            self.account, self.holder, self._token, rt.clock.now(), self._ttl_s
        )

    async def take(self, wait_s: float, on_wait: Callable[[LeaseHolder], None]) -> None:
        """Take the lease, waiting up to `wait_s` for a live holder; LeaseHeldError after."""
        clock = self._rt.clock
        deadline = clock.monotonic() + wait_s
        told: str | None = None
        while True:
            held = await self.try_take()
            if held is None:
                log.info("lease.taken", holder=self.holder, account=self.account)
                return
            if told != held.holder:
                told = held.holder
                on_wait(held)
            if clock.monotonic() >= deadline:
                raise LeaseHeldError(held)
            await clock.sleep(min(WAIT_POLL_S, max(0.0, deadline - clock.monotonic())))

    def ensure(self) -> None:
        """Refuse to go on once the lease was lost: another process may be working now."""
        if self.lost:
            raise LeaseLostError(
                f"the ledger lease was not renewed within {self._ttl_s:g} s and may be held "
                "by another process; stopped before sending more"
            )

    async def renew_forever(self) -> None:
        """Renew every ttl/3 until cancelled; the lease is lost once another process took it.

        A ledger that cannot be reached (a PostgreSQL restart) is tried again at the next turn
        while the lease is surely still ours then; after that, another process may take it over
        as soon as the server is back, so the lease counts as lost.
        """
        rt = self._rt
        renewed_at = rt.clock.monotonic()
        while True:
            await asyncio.sleep(self.renew_every_s)
            started = rt.clock.monotonic()
            try:
                kept = await rt.ledger.leases.renew(self.account, self._token, rt.clock.now())
            except LedgerError as exc:
                error = redact_error(str(exc))
                log.warning(
                    "lease.renew_failed", holder=self.holder, account=self.account, error=error
                )
                if started - renewed_at + self.renew_every_s < self._ttl_s:
                    continue
                kept = False
            if not kept:
                self.lost = True
                log.error("lease.lost", holder=self.holder, account=self.account)
                return
            renewed_at = started

    async def give_back(self) -> None:
        await self._rt.ledger.leases.give_back(self.account, self._token)
        log.info("lease.returned", holder=self.holder, account=self.account)


@asynccontextmanager
async def renewed(lease: Lease) -> AsyncIterator[Lease]:
    """Keep a taken lease renewed for the block, and give it back after, whatever happened."""
    task = asyncio.create_task(lease.renew_forever(), name="fusionbridge-lease")
    try:
        yield lease
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await asyncio.shield(lease.give_back())


def print_waiting(wait_s: float) -> Callable[[LeaseHolder], None]:
    """The one line a waiting command prints: who holds the lease, since when, how long we wait."""
    import sys

    def say(held: LeaseHolder) -> None:
        print(
            f"fusionbridge: waiting up to {wait_s:g} s for the ledger lease of account "
            f"{held.account} held by {held.holder} since {_when(held.taken_at)}",
            file=sys.stderr,
            flush=True,
        )

    return say


@asynccontextmanager
async def command_lease(rt: Runtime, wait_s: float) -> AsyncIterator[Lease]:
    """The lease for one CLI command: wait for it (saying who holds it), hold it to the end."""
    lease = Lease(rt)
    await lease.take(wait_s, print_waiting(wait_s))
    async with renewed(lease):
        rt.lease = lease
        try:
            yield lease
        finally:
            rt.lease = None
