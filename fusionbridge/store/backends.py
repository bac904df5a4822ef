"""Which database a ledger lives in: a SQLite file by path, or PostgreSQL by `storage.url`."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from pydantic import SecretStr

from fusionbridge.errors import ConfigError
from fusionbridge.store.database import Database
from fusionbridge.store.pg_url import url_problem
from fusionbridge.store.sqlite import SqliteDatabase


class StorageTarget(Protocol):
    """The `[storage]` settings: `url` (a secret) wins over `path` when set."""

    @property
    def path(self) -> Path: ...

    @property
    def url(self) -> SecretStr | None: ...


LedgerTarget = Path | str | StorageTarget
"""A SQLite file, a PostgreSQL URL, or the `[storage]` settings that name one of them."""


async def open_database(target: LedgerTarget) -> Database:
    """Connect to the ledger's database; ConfigError for a malformed URL, LedgerError else."""
    if isinstance(target, Path):
        return await SqliteDatabase.connect(target)
    if isinstance(target, str):
        url = target
    elif target.url is None:
        return await SqliteDatabase.connect(target.path)
    else:
        url = target.url.get_secret_value()
    problem = url_problem(url)
    if problem is not None:
        raise ConfigError([f"storage.url: {problem}"])
    from fusionbridge.store.postgres import PostgresDatabase  # the driver only for PostgreSQL

    return await PostgresDatabase.connect(url)
