"""The ledger: fusionbridge's one durable SQLite file, opened once per process."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fusionbridge.clock import Clock
from fusionbridge.store.database import Database
from fusionbridge.store.energy import EnergyRecords
from fusionbridge.store.findings import FindingRecords
from fusionbridge.store.inventory import InventoryRecords
from fusionbridge.store.job_runs import JobRecords
from fusionbridge.store.migrations import migrate
from fusionbridge.store.pacing import PacingRecords
from fusionbridge.store.submissions import SubmissionRecords


class Ledger:
    """Everything fusionbridge must remember across restarts, one table-shaped part per concern."""

    def __init__(self, db: Database, clock: Clock, schema_version: int) -> None:
        self._db = db
        self.clock = clock
        self.schema_version = schema_version
        self.pacing = PacingRecords(db, clock)
        self.inventory = InventoryRecords(db, clock)
        self.energy = EnergyRecords(db, clock)
        self.submissions = SubmissionRecords(db, clock)
        self.jobs = JobRecords(db, clock)
        self.findings = FindingRecords(db, clock)

    @property
    def path(self) -> Path:
        return self._db.path

    @classmethod
    @asynccontextmanager
    async def open(cls, path: Path, clock: Clock) -> AsyncIterator[Ledger]:
        """Open and migrate the ledger at `path` for the duration of the block."""
        ledger = await cls.connect(path, clock)
        try:
            yield ledger
        finally:
            await ledger.close()

    @classmethod
    async def connect(cls, path: Path, clock: Clock) -> Ledger:
        """Open and migrate without a block; the caller must `close()` it."""
        db = await Database.connect(path)
        try:
            version = await migrate(db, clock.now())
        except BaseException:
            await db.close()
            raise
        return cls(db, clock, version)

    async def close(self) -> None:
        await self._db.close()

    async def change_marker(self) -> tuple[int, int]:
        """Changes whenever the ledger may have changed: this process's commits, then others'.

        `PRAGMA data_version` moves when another connection (a `push` command next to the
        daemon) commits; this connection's own commits are counted by the database.
        """
        row = await self._db.fetchone("PRAGMA data_version")
        return self._db.generation, int(row[0]) if row is not None else 0

    async def release_memory(self) -> None:
        """Let SQLite drop its page cache; the next read refills it from the file (or the OS)."""
        await self._db.fetchall("PRAGMA shrink_memory")

    async def integrity_check(self) -> list[str]:
        """SQLite's own verdict on the file: `["ok"]` when sound."""
        rows = await self._db.fetchall("PRAGMA integrity_check")
        return [str(row[0]) for row in rows]
