"""The ledger: fusionbridge's one durable store (a SQLite file or PostgreSQL), opened once per process."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fusionbridge.clock import Clock
from fusionbridge.store.backends import LedgerTarget, open_database
from fusionbridge.store.database import Database
from fusionbridge.store.day_evidence import DayEvidenceRecords
from fusionbridge.store.day_submissions import DaySubmissionRecords
from fusionbridge.store.energy import EnergyRecords
from fusionbridge.store.findings import FindingRecords
from fusionbridge.store.inventory import InventoryRecords
from fusionbridge.store.job_runs import JobRecords
from fusionbridge.store.leases import DEFAULT_ACCOUNT, LeaseRecords
from fusionbridge.store.live import LiveRecords
from fusionbridge.store.migrations import migrate
from fusionbridge.store.notifications import NotificationRecords
from fusionbridge.store.oauth import OAuthRecords
from fusionbridge.store.pacing import PacingRecords
from fusionbridge.store.raw_responses import RawResponseRecords
from fusionbridge.store.redex_log import RedexLogRecords
from fusionbridge.store.submissions import SubmissionRecords


class Ledger:
    """Everything fusionbridge must remember across restarts, one table-shaped part per concern.

    One ledger serves every account (SPEC §14). The parts that hold one FusionSolar account's
    state (pacing, login, tokens, job runs, inventory, live fetch times) are scoped to
    `account`; `for_account` gives the same connection scoped to another one.
    """

    def __init__(
        self, db: Database, clock: Clock, schema_version: int, account: str = DEFAULT_ACCOUNT
    ) -> None:
        self._db = db
        self.clock = clock
        self.schema_version = schema_version
        self.account = account
        self.pacing = PacingRecords(db, clock, account)
        self.inventory = InventoryRecords(db, clock, account)
        self.energy = EnergyRecords(db, clock)
        self.submissions = SubmissionRecords(db, clock)
        self.jobs = JobRecords(db, clock, account)
        self.findings = FindingRecords(db, clock)
        self.oauth = OAuthRecords(db, clock, account)
        self.days = DaySubmissionRecords(db, clock)
        self.leases = LeaseRecords(db, clock)
        self.live = LiveRecords(db, clock, account)
        self.raw = RawResponseRecords(db, clock)
        self.redex_log = RedexLogRecords(db, clock)
        self.notifications = NotificationRecords(db, clock)
        self.day_evidence = DayEvidenceRecords(db, clock)

    def for_account(self, account: str) -> Ledger:
        """The same ledger (and connection) with the per-account parts scoped to `account`."""
        return Ledger(self._db, self.clock, self.schema_version, account)

    @property
    def location(self) -> str:
        """Where the ledger lives, safe to show: a file path, or a URL without its password."""
        return self._db.location

    @property
    def dialect(self) -> str:
        return self._db.dialect

    @classmethod
    @asynccontextmanager
    async def open(cls, target: LedgerTarget, clock: Clock) -> AsyncIterator[Ledger]:
        """Open and migrate the ledger `target` names for the duration of the block."""
        ledger = await cls.connect(target, clock)
        try:
            yield ledger
        finally:
            await ledger.close()

    @classmethod
    async def connect(cls, target: LedgerTarget, clock: Clock) -> Ledger:
        """Open and migrate without a block; the caller must `close()` it."""
        db = await open_database(target)
        try:
            version = await migrate(db, clock.now())
        except BaseException:
            await db.close()
            raise
        return cls(db, clock, version)

    async def close(self) -> None:
        await self._db.close()

    async def release_memory(self) -> None:
        """Let SQLite drop its page cache; the next read refills it from the file (or the OS)."""
        await self._db.release_memory()

    async def integrity_check(self) -> list[str]:
        """The database's own verdict on the ledger: `["ok"]` when sound."""
        return await self._db.integrity_check()

    async def change_marker(self) -> str:
        """Opaque text that differs after any commit by any process; equal means unchanged."""
        return await self._db.change_marker()
