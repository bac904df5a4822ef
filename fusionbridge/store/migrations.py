"""The ledger schema as numbered steps; `PRAGMA user_version` says how many are applied."""

from __future__ import annotations

from datetime import datetime

from fusionbridge.errors import LedgerError
from fusionbridge.store.columns import instant_text
from fusionbridge.store.database import Database

# Each step is a tuple of single statements (no executescript: it would COMMIT our transaction).
# Append new steps; never edit an applied one.
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """CREATE TABLE schema_history (
            version INTEGER PRIMARY KEY,
            applied_at TEXT NOT NULL
        ) STRICT""",
        """CREATE TABLE endpoint_pacing (
            endpoint TEXT PRIMARY KEY,
            last_call TEXT,
            day TEXT,
            calls_on_day INTEGER NOT NULL DEFAULT 0,
            blocked_until TEXT
        ) STRICT""",
        """CREATE TABLE fusionsolar_session (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            token TEXT,
            logged_in_at TEXT,
            login_attempts TEXT NOT NULL DEFAULT '[]',
            refused_fingerprint TEXT,
            refused_at TEXT
        ) STRICT""",
    ),
)

SCHEMA_VERSION = len(MIGRATIONS)


async def migrate(db: Database, at: datetime) -> int:
    """Bring the schema up to date, one transaction per step; the version now in use."""
    current = await _user_version(db)
    _refuse_newer(current)
    while current < SCHEMA_VERSION:
        async with db.transaction() as tx:
            # Re-read under the write lock: another process may have migrated meanwhile.
            row = await tx.fetchone("PRAGMA user_version")
            current = int(row[0]) if row else 0
            _refuse_newer(current)
            if current == SCHEMA_VERSION:
                break
            version = current + 1
            for statement in MIGRATIONS[version - 1]:
                await tx.execute(statement)
            await tx.execute(
                "INSERT INTO schema_history (version, applied_at) VALUES (?, ?)",
                (version, instant_text(at)),
            )
            await tx.execute(f"PRAGMA user_version = {version:d}")
        current = version
    return current


async def _user_version(db: Database) -> int:
    row = await db.fetchone("PRAGMA user_version")
    return int(row[0]) if row else 0


def _refuse_newer(version: int) -> None:
    if version > SCHEMA_VERSION:
        raise LedgerError(
            f"the ledger has schema version {version}, newer than this fusionbridge "
            f"understands ({SCHEMA_VERSION}); upgrade fusionbridge or restore an older ledger"
        )
