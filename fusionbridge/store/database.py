"""The seam between the ledger's parts and a database: one interface, a SQLite and a PostgreSQL side.

The parts write their SQL once, in SQLite's spelling (`?` and `?N` placeholders, `ON CONFLICT …
DO UPDATE`, `RETURNING`, `json_each`/`json_extract` over a bound JSON array); the PostgreSQL
backend translates that closed vocabulary (see `store.pg_sql`). Every write is one transaction in
which writers are serialised, as SQLite's single writer is, so both give the same guarantees.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any, Literal, Protocol

Params = Sequence[Any]
Dialect = Literal["sqlite", "postgresql"]


class Row(Protocol):
    """A result row, read by position or by column name (sqlite3.Row and postgres.PgRow are)."""

    def __getitem__(self, key: Any, /) -> Any: ...

    def __len__(self) -> int: ...

    def __iter__(self) -> Iterator[Any]: ...


class Transaction(ABC):
    """Statements inside one transaction; only `Database.transaction`/`snapshot` make one."""

    @abstractmethod
    async def execute(self, sql: str, params: Params = ()) -> int:
        """Run one statement; the number of rows it changed."""

    @abstractmethod
    async def executemany(self, sql: str, rows: Iterable[Params]) -> None:
        """Run one statement once per row of parameters."""

    @abstractmethod
    async def insert(self, sql: str, params: Params = ()) -> int:
        """Run an INSERT into a table with an `id` key; the new row's id."""

    @abstractmethod
    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        """Every row a query (or a write with RETURNING) gives."""

    async def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        rows = await self.fetchall(sql, params)
        return rows[0] if rows else None


class Database(ABC):
    """One connection, one writer at a time; `location` names it without any secret."""

    dialect: Dialect
    location: str

    @abstractmethod
    def transaction(self) -> AbstractAsyncContextManager[Transaction]:
        """One logical write step: all of it is committed, or none of it."""

    @abstractmethod
    def snapshot(self) -> AbstractAsyncContextManager[Transaction]:
        """Several reads that must agree with each other; nothing is written."""

    @abstractmethod
    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        """A read outside any transaction (a consistent snapshot of one statement)."""

    async def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        rows = await self.fetchall(sql, params)
        return rows[0] if rows else None

    @abstractmethod
    async def change_marker(self) -> str:
        """Opaque text that differs after any commit (by any process); equal means unchanged."""

    async def release_memory(self) -> None:  # noqa: B027 (a hook: most backends hold nothing)
        """Give back cached pages the driver holds; the next read refills them (idle memory)."""

    @abstractmethod
    async def integrity_check(self) -> list[str]:
        """The database's own verdict on the ledger: `["ok"]` when sound."""

    @abstractmethod
    async def close(self) -> None:
        """Release the connection; later calls raise LedgerError."""
