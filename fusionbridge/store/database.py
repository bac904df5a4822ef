"""One aiosqlite connection with the PRAGMAs, transactions and error translation the ledger needs."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Iterable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager, suppress
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite

from fusionbridge.errors import LedgerError

BUSY_TIMEOUT_MS = 5000
Params = Sequence[Any]
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


class Transaction:
    """Statements inside one `BEGIN IMMEDIATE … COMMIT`; only `Database.transaction` makes one."""

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn

    async def execute(self, sql: str, params: Params = ()) -> int:
        """Run one statement; the number of rows it changed."""
        with translated("write"):
            async with self._conn.execute(sql, params) as cursor:
                return cursor.rowcount

    async def executemany(self, sql: str, rows: Iterable[Params]) -> None:
        with translated("write"):
            await self._conn.executemany(sql, rows)

    async def insert(self, sql: str, params: Params = ()) -> int:
        """Run an INSERT; the new row's id."""
        with translated("write"):
            async with self._conn.execute(sql, params) as cursor:
                if cursor.lastrowid is None:
                    raise LedgerError("ledger insert returned no row id")
                return cursor.lastrowid

    async def fetchall(self, sql: str, params: Params = ()) -> list[sqlite3.Row]:
        with translated("read"):
            return list(await self._conn.execute_fetchall(sql, params))

    async def fetchone(self, sql: str, params: Params = ()) -> sqlite3.Row | None:
        rows = await self.fetchall(sql, params)
        return rows[0] if rows else None


class Database:
    """One connection, one writer: a lock keeps concurrent tasks' transactions from interleaving."""

    def __init__(self, conn: aiosqlite.Connection, path: Path) -> None:
        self._conn = conn
        self._lock = asyncio.Lock()
        self.path = path
        self.generation = 0  # bumped by every committed transaction: a cheap "ledger changed"

    @classmethod
    async def connect(cls, path: Path) -> Database:
        """Open (creating the directory), switch to WAL, and set the durability PRAGMAs."""
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise LedgerError(f"cannot create the ledger directory: {exc.strerror}") from exc
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
        """One logical step: all of it is committed, or none of it."""
        async with self._lock:
            with translated("begin"):
                await self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield Transaction(self._conn)
                with translated("commit"):
                    await _finish(self._conn.execute("COMMIT"))
                self.generation += 1
            except BaseException:
                # also after a failed COMMIT, which can leave the transaction open
                with suppress(sqlite3.Error, ValueError):
                    await _finish(self._conn.rollback())
                raise

    async def fetchall(self, sql: str, params: Params = ()) -> list[sqlite3.Row]:
        """A read outside any transaction (a consistent snapshot of one statement)."""
        async with self._lock:
            with translated("read"):
                return list(await self._conn.execute_fetchall(sql, params))

    async def fetchone(self, sql: str, params: Params = ()) -> sqlite3.Row | None:
        rows = await self.fetchall(sql, params)
        return rows[0] if rows else None

    @asynccontextmanager
    async def snapshot(self) -> AsyncIterator[Transaction]:
        """Several reads that must agree with each other (a deferred read transaction)."""
        async with self._lock:
            with translated("begin"):
                await self._conn.execute("BEGIN")
            try:
                yield Transaction(self._conn)
            finally:
                with suppress(sqlite3.Error, ValueError):
                    await _finish(self._conn.rollback())


async def _finish(step: Awaitable[T]) -> T:
    """Let a COMMIT or ROLLBACK complete even if the awaiting task is being cancelled."""
    return await asyncio.shield(_as_coroutine(step))


async def _as_coroutine(step: Awaitable[T]) -> T:
    return await step
