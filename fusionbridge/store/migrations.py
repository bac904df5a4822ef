"""Bring a ledger up to the schema this version knows, one committed step at a time.

SQLite counts applied steps in `PRAGMA user_version`, PostgreSQL in `schema_history`.
"""

from __future__ import annotations

from datetime import datetime

from fusionbridge.errors import LedgerError
from fusionbridge.store.columns import instant_text
from fusionbridge.store.database import Database, Dialect, Transaction
from fusionbridge.store.migrations_pg import RESYNC_IDENTITIES, postgres_step
from fusionbridge.store.schema import STEPS

MIGRATIONS = STEPS
"""Applied in order; `store/schema.py` holds them (append new steps there, never edit one)."""
SCHEMA_VERSION = len(MIGRATIONS)


async def migrate(db: Database, at: datetime) -> int:
    """Bring the schema up to date, one transaction per step; the version now in use."""
    current = await _version(db, db.dialect)
    _refuse_newer(current)
    while current < SCHEMA_VERSION:
        async with db.transaction() as tx:
            # Re-read under the write lock: another process may have migrated meanwhile.
            current = await _version(tx, db.dialect)
            _refuse_newer(current)
            if current == SCHEMA_VERSION:
                break
            version = current + 1
            for statement in _statements(db.dialect, version):
                await tx.execute(statement)
            await tx.execute(
                "INSERT INTO schema_history (version, applied_at) VALUES (?, ?)",
                (version, instant_text(at)),
            )
            if db.dialect == "sqlite":
                await tx.execute(f"PRAGMA user_version = {version:d}")
            else:
                await tx.execute(RESYNC_IDENTITIES)
        current = version
    return current


def _statements(dialect: Dialect, version: int) -> tuple[str, ...]:
    step = MIGRATIONS[version - 1]
    return step if dialect == "sqlite" else postgres_step(version, step)


async def _version(reader: Database | Transaction, dialect: Dialect) -> int:
    """SQLite keeps it in `user_version`; PostgreSQL in the highest `schema_history` row."""
    if dialect == "sqlite":
        row = await reader.fetchone("PRAGMA user_version")
        return int(row[0]) if row else 0
    # a catalog scan, not to_regclass: a name lookup may answer from this session's stale cache
    exists = await reader.fetchone(
        "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_tables "
        "WHERE schemaname = current_schema() AND tablename = 'schema_history')"
    )
    if exists is None or not exists[0]:
        return 0
    row = await reader.fetchone("SELECT coalesce(max(version), 0) FROM schema_history")
    return int(row[0]) if row else 0


def _refuse_newer(version: int) -> None:
    if version > SCHEMA_VERSION:
        raise LedgerError(
            f"the ledger has schema version {version}, newer than this fusionbridge "
            f"understands ({SCHEMA_VERSION}); upgrade fusionbridge or restore an older ledger"
        )
