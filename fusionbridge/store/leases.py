"""The account lease: which process may call upstream or change submissions, kept in the ledger.

One row per account (`"default"` for a one-account configuration), taken, renewed and given back in
transactions keyed by the account name, so the same rows work on any SQL database that several
machines share; no file lock. A lease whose `renewed_at` is more than `ttl` old is dead: its
holder crashed or hung, and the next process takes it over.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from fusionbridge.clock import Clock
from fusionbridge.store.columns import instant, instant_text, optional_instant
from fusionbridge.store.database import Database, Row

DEFAULT_ACCOUNT = "default"


@dataclass(frozen=True, slots=True)
class LeaseHolder:
    """Who holds an account's lease (`host:pid`) and since when."""

    account: str
    holder: str
    taken_at: datetime
    renewed_at: datetime
    released_at: datetime | None = None

    def live(self, at: datetime, ttl_s: float) -> bool:
        """Still held: not given back, and renewed within the last `ttl_s`."""
        return self.released_at is None and at - self.renewed_at < timedelta(seconds=ttl_s)


class LeaseRecords:
    """Take, renew and return one account's lease, each in one transaction."""

    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self.clock = clock

    async def take(
        self, account: str, holder: str, token: str, at: datetime, ttl_s: float
    ) -> LeaseHolder | None:
        """Take the lease (free, dead, or already ours); None on success, else the live holder."""
        async with self._db.transaction() as tx:
            row = await tx.fetchone(
                """SELECT holder, token, taken_at, renewed_at, released_at FROM leases
                WHERE account = ?""",
                (account,),
            )
            if row is not None and row["token"] != token:
                held = _holder(account, row)
                if held.live(at, ttl_s):
                    return held
            now = instant_text(at)
            await tx.execute(
                """INSERT INTO leases (account, holder, token, taken_at, renewed_at, released_at)
                VALUES (?, ?, ?, ?, ?, NULL)
                ON CONFLICT (account) DO UPDATE SET holder = excluded.holder,
                    token = excluded.token, taken_at = excluded.taken_at,
                    renewed_at = excluded.renewed_at, released_at = NULL""",
                (account, holder, token, now, now),
            )
        return None

    async def renew(self, account: str, token: str, at: datetime) -> bool:
        """Extend our lease; False when it is no longer ours (it died and was taken over)."""
        async with self._db.transaction() as tx:
            changed = await tx.execute(
                "UPDATE leases SET renewed_at = ? WHERE account = ? AND token = ?",
                (instant_text(at), account, token),
            )
        return changed == 1

    async def give_back(self, account: str, token: str) -> None:
        """Release our lease at once, so a waiting process need not wait for it to die.

        The row stays, marked released, so `status` can tell which process last worked.
        """
        async with self._db.transaction() as tx:
            await tx.execute(
                """UPDATE leases SET released_at = ?, token = ''
                WHERE account = ? AND token = ?""",
                (instant_text(self.clock.now()), account, token),
            )

    async def workers(
        self, accounts: Iterable[str], at: datetime, ttl_s: float
    ) -> dict[str, tuple[LeaseHolder | None, bool]]:
        """Per account: who last held its lease (None: nobody yet), and whether it still does."""
        found: dict[str, tuple[LeaseHolder | None, bool]] = {}
        for account in accounts:
            held = await self.holder(account)
            found[account] = (held, held is not None and held.live(at, ttl_s))
        return found

    async def holder(self, account: str) -> LeaseHolder | None:
        """The lease's row, live, dead or released (for `status` and error messages)."""
        row = await self._db.fetchone(
            "SELECT holder, taken_at, renewed_at, released_at FROM leases WHERE account = ?",
            (account,),
        )
        return None if row is None else _holder(account, row)


def _holder(account: str, row: Row) -> LeaseHolder:
    return LeaseHolder(
        account,
        row["holder"],
        instant(row["taken_at"]),
        instant(row["renewed_at"]),
        optional_instant(row["released_at"]),
    )
