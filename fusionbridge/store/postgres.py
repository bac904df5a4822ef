"""The PostgreSQL side of the seam: one psycopg connection, reopened after the server comes back.

Writers are serialised as in SQLite (a transaction-scoped advisory lock taken after BEGIN), so
read-modify-write steps behave the same whichever process or database runs them. A lost
connection is `LedgerUnavailable`: the step fails, the next one reconnects.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Iterable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager, suppress
from typing import Any, TypeVar

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg.pq import TransactionStatus
from psycopg.rows import RowMaker

from fusionbridge.errors import LedgerError, LedgerUnavailable
from fusionbridge.store.database import Database, Params, Row, Transaction
from fusionbridge.store.pg_sql import bind, translate
from fusionbridge.store.pg_url import redact, safe_location

CONNECT_OPTIONS: dict[str, str | int] = {
    "connect_timeout": 5,
    "application_name": "fusionbridge",
    "client_encoding": "UTF8",  # a SQL_ASCII database would otherwise hand back bytes
    "keepalives_idle": 30,  # a server that vanished without a word is noticed in about a minute
    "keepalives_interval": 10,
    "keepalives_count": 3,
}
"""libpq options used unless the URL sets them itself."""
WRITER_LOCK = 0x46425F4C  # "FB_L": the advisory lock every write transaction holds
T = TypeVar("T")


class PgRow:
    """A row readable by position or by column name, like sqlite3.Row."""

    __slots__ = ("_index", "_values")

    def __init__(self, index: dict[str, int], values: Sequence[Any]) -> None:
        self._index = index
        self._values = values

    def __getitem__(self, key: int | str) -> Any:
        return self._values[self._index[key] if isinstance(key, str) else key]

    def __len__(self) -> int:
        return len(self._values)

    def __iter__(self) -> Iterator[Any]:
        return iter(self._values)

    def keys(self) -> list[str]:
        return list(self._index)


def _row_factory(cursor: psycopg.AsyncCursor[Any]) -> RowMaker[PgRow]:
    names = [column.name for column in cursor.description or ()]
    index = {name: position for position, name in enumerate(names)}

    def make(values: Sequence[Any]) -> PgRow:
        return PgRow(index, values)

    return make


class Translator:
    """Turns psycopg failures into LedgerError (or LedgerUnavailable), with no password in them."""

    def __init__(self, url: str) -> None:
        self._url = url

    @contextmanager
    def __call__(self, action: str) -> Iterator[None]:
        try:
            yield
        except psycopg.OperationalError as exc:
            raise LedgerUnavailable(self.message(action, exc)) from exc
        except psycopg.Error as exc:
            raise LedgerError(self.message(action, exc)) from exc

    def message(self, action: str, exc: Exception) -> str:
        detail = " ".join(str(exc).split()) or type(exc).__name__
        return redact(f"ledger {action} failed: {detail}", self._url)


class PgTransaction(Transaction):
    """Statements inside one BEGIN … COMMIT on the backend's connection."""

    def __init__(self, conn: psycopg.AsyncConnection[Any], translated: Translator) -> None:
        self._conn = conn
        self._translated = translated

    async def execute(self, sql: str, params: Params = ()) -> int:
        with self._translated("write"):
            cursor = await _run(self._conn, sql, params)
            return cursor.rowcount

    async def executemany(self, sql: str, rows: Iterable[Params]) -> None:
        query, count = translate(sql)
        batch = [bind(count, row) for row in rows]
        if not batch:
            return
        with self._translated("write"):
            async with self._conn.cursor() as cursor:
                await cursor.executemany(query, batch)

    async def insert(self, sql: str, params: Params = ()) -> int:
        if "RETURNING" not in sql.upper():
            sql = f"{sql} RETURNING id"
        row = await self.fetchone(sql, params)
        if row is None:
            raise LedgerError("ledger insert returned no row id")
        return int(row[0])

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        with self._translated("read"):
            cursor = await _run(self._conn, sql, params)
            return list(await cursor.fetchall()) if cursor.description else []


async def _run(
    conn: psycopg.AsyncConnection[Any], sql: str, params: Params
) -> psycopg.AsyncCursor[PgRow]:
    cursor = conn.cursor(row_factory=_row_factory)
    query, count = translate(sql)
    await cursor.execute(query, bind(count, params))
    return cursor


class PostgresDatabase(Database):
    """One connection behind a lock; it is (re)opened on first use after a failure."""

    dialect = "postgresql"

    def __init__(self, url: str) -> None:
        self._url = url
        self._conn: psycopg.AsyncConnection[Any] | None = None
        self._lock = asyncio.Lock()
        self._closed = False
        self._translated = Translator(url)
        self.location = safe_location(url)

    @classmethod
    async def connect(cls, url: str) -> PostgresDatabase:
        """Connect once now, so a wrong URL or a server that is down shows at start."""
        db = cls(url)
        async with db._lock:
            await db._connection()
        return db

    async def _connection(self) -> psycopg.AsyncConnection[Any]:
        if self._closed:
            raise LedgerError("ledger use failed: the ledger is closed")
        conn = self._conn
        if conn is not None and _idle(conn):
            return conn
        await self._discard()
        with self._translated("connect"):
            try:
                given = conninfo_to_dict(self._url)
                defaults = {k: v for k, v in CONNECT_OPTIONS.items() if k not in given}
                self._conn = await psycopg.AsyncConnection.connect(
                    make_conninfo(self._url, **defaults), autocommit=True
                )
            except psycopg.ProgrammingError as exc:  # a malformed URL: libpq would echo it
                raise LedgerError("ledger connect failed: storage.url is not usable") from exc
        return self._conn

    async def _discard(self) -> None:
        """Drop a connection that is lost or mid-statement; the server rolls back what it held."""
        conn, self._conn = self._conn, None
        if conn is not None:
            with suppress(Exception):
                await conn.close()

    async def close(self) -> None:
        async with self._lock:
            self._closed = True
            conn, self._conn = self._conn, None
            if conn is not None:
                with self._translated("close"):
                    await conn.close()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Transaction]:
        async with self._lock, self._session("BEGIN", writer=True) as tx:
            yield tx

    @asynccontextmanager
    async def snapshot(self) -> AsyncIterator[Transaction]:
        begin = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"
        async with self._lock, self._session(begin, writer=False) as tx:
            yield tx

    @asynccontextmanager
    async def _session(self, begin: str, *, writer: bool) -> AsyncIterator[Transaction]:
        conn = await self._connection()
        try:
            with self._translated("begin"):
                await conn.execute(begin)
                if writer:
                    await conn.execute("SELECT pg_advisory_xact_lock(%s)", (WRITER_LOCK,))
            yield PgTransaction(conn, self._translated)
            if writer:
                with self._translated("commit"):
                    await _finish(conn.execute("COMMIT"))
        except BaseException:
            try:
                await _finish(conn.execute("ROLLBACK"))
            except Exception:
                await self._discard()
            raise
        else:
            if not writer:
                with suppress(Exception):
                    await _finish(conn.execute("ROLLBACK"))

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        async with self._lock:
            conn = await self._connection()
            try:
                with self._translated("read"):
                    cursor = await _run(conn, sql, params)
                    return list(await cursor.fetchall()) if cursor.description else []
            finally:
                if not _idle(conn):
                    await self._discard()

    async def change_marker(self) -> str:
        """The cluster's snapshot (next xid and those in flight): it moves when a writer starts
        and again when it commits, never on reads. WAL positions do move on reads (hint bits,
        page pruning), which rebuilt the /status cache for nothing."""
        row = await self.fetchone("SELECT pg_current_snapshot()::text")
        return str(row[0]) if row else ""

    async def integrity_check(self) -> list[str]:
        """PostgreSQL guards its own pages; what we can check is that every table reads back."""
        problems: list[str] = []
        async with self.snapshot() as tx:
            tables = await tx.fetchall(
                "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() "
                "ORDER BY tablename"
            )
            for (name,) in tables:
                try:
                    await tx.fetchall(f'SELECT count(*) FROM "{name}"')  # noqa: S608 (catalog name)
                except LedgerError as exc:
                    problems.append(str(exc))
        return problems or ["ok"]


def _idle(conn: psycopg.AsyncConnection[Any]) -> bool:
    """Usable for a new statement: open, and not inside a transaction or a cancelled query."""
    return not conn.broken and conn.info.transaction_status == TransactionStatus.IDLE


async def _finish(step: Awaitable[T]) -> T:
    """Let a COMMIT or ROLLBACK complete even if the awaiting task is being cancelled."""
    return await asyncio.shield(_as_coroutine(step))


async def _as_coroutine(step: Awaitable[T]) -> T:
    return await step
