"""The SQLite side of the seam: one aiosqlite connection, WAL, `synchronous=FULL`, one writer."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import stat
from collections.abc import AsyncIterator, Awaitable, Iterable, Iterator
from contextlib import asynccontextmanager, contextmanager, suppress
from pathlib import Path
from typing import TypeVar

import aiosqlite

from fusionbridge.errors import LedgerError
from fusionbridge.store.database import Database, Params, Row, Transaction

BUSY_TIMEOUT_MS = 5000
T = TypeVar("T")


@contextmanager
def translated(action: str) -> Iterator[None]:
    """Turn any sqlite failure into a LedgerError, chained, so callers catch one tree."""
    try:
        yield
    except sqlite3.Error as exc:
        raise LedgerError(f"ledger {action} failed: {exc}") from exc
    except ValueError as exc:  # aiosqlite's "no active connection" after close
        if "connection" not in str(exc).lower():
            raise
        raise LedgerError(f"ledger {action} failed: {exc}") from exc


class SqliteTransaction(Transaction):
    """Statements inside one `BEGIN IMMEDIATE … COMMIT` (or a deferred read-only `BEGIN`)."""

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn

    async def execute(self, sql: str, params: Params = ()) -> int:
        with translated("write"):
            async with self._conn.execute(sql, params) as cursor:
                return cursor.rowcount

    async def executemany(self, sql: str, rows: Iterable[Params]) -> None:
        with translated("write"):
            await self._conn.executemany(sql, rows)

    async def insert(self, sql: str, params: Params = ()) -> int:
        with translated("write"):
            async with self._conn.execute(sql, params) as cursor:
                if cursor.lastrowid is None:
                    raise LedgerError("ledger insert returned no row id")
                return cursor.lastrowid

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        with translated("read"):
            return list(await self._conn.execute_fetchall(sql, params))


class SqliteDatabase(Database):
    """One connection, one writer: a lock keeps concurrent tasks' transactions from interleaving."""

    dialect = "sqlite"

    def __init__(self, conn: aiosqlite.Connection, path: Path) -> None:
        self._conn = conn
        self._lock = asyncio.Lock()
        self._writes = 0
        self.path = path
        self.location = str(path)

    @classmethod
    async def connect(cls, path: Path) -> SqliteDatabase:
        """Open (creating the directory), switch to WAL, and set the durability PRAGMAs."""
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise LedgerError(f"cannot create the ledger directory: {exc.strerror}") from exc
        _owner_only(path)
        with translated("open"):
            conn = await aiosqlite.connect(path, isolation_level=None)
        try:
            conn.row_factory = sqlite3.Row
            with translated("open"):
                await conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
                mode = await conn.execute_fetchall("PRAGMA journal_mode = WAL")
                if [tuple(row) for row in mode] != [("wal",)]:
                    raise LedgerError("the ledger cannot switch to WAL journaling")
                await conn.execute("PRAGMA synchronous = FULL")
                await conn.execute("PRAGMA foreign_keys = ON")
        except BaseException:
            with suppress(Exception):
                await conn.close()
            raise
        return cls(conn, path)

    async def close(self) -> None:
        async with self._lock:
            with translated("close"):
                await self._conn.close()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Transaction]:
        async with self._lock:
            with translated("begin"):
                await self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield SqliteTransaction(self._conn)
                with translated("commit"):
                    await _finish(self._conn.execute("COMMIT"))
                self._writes += 1
            except BaseException:
                # also after a failed COMMIT, which can leave the transaction open
                with suppress(sqlite3.Error, ValueError):
                    await _finish(self._conn.rollback())
                raise

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        async with self._lock:
            with translated("read"):
                return list(await self._conn.execute_fetchall(sql, params))

    @asynccontextmanager
    async def snapshot(self) -> AsyncIterator[Transaction]:
        async with self._lock:
            with translated("begin"):
                await self._conn.execute("BEGIN")
            try:
                yield SqliteTransaction(self._conn)
            finally:
                with suppress(sqlite3.Error, ValueError):
                    await _finish(self._conn.rollback())

    async def change_marker(self) -> str:
        """`data_version` moves with other connections' commits, the counter with our own."""
        row = await self.fetchone("PRAGMA data_version")
        return f"{row[0] if row else 0}.{self._writes}"

    async def release_memory(self) -> None:
        await self.fetchall("PRAGMA shrink_memory")

    async def integrity_check(self) -> list[str]:
        rows = await self.fetchall("PRAGMA integrity_check")
        return [str(row[0]) for row in rows]


async def _finish(step: Awaitable[T]) -> T:
    """Let a COMMIT or ROLLBACK complete even if the awaiting task is being cancelled."""
    return await asyncio.shield(_as_coroutine(step))


async def _as_coroutine(step: Awaitable[T]) -> T:
    return await step


def _owner_only(path: Path) -> None:
    """Create the ledger 0600 (SQLite gives its -wal and -shm files the same mode), and narrow
    an existing one: it holds the FusionSolar session token and every submission."""
    try:
        os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
    except OSError:
        return  # unreadable or a read-only place: sqlite's own open reports it properly
    for name in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        try:
            if stat.S_IMODE(name.stat().st_mode) & 0o077:
                name.chmod(0o600)
        except OSError:
            pass  # absent, or not our file to change
