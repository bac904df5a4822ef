"""Shared fixtures: a clean environment, and each backend's ledger for every test that has one."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from tests.daemon_harness import World, served_world
from tests.postgres_server import PostgresServer, remove_server, start_server


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for key in list(os.environ):
        if key.startswith("FUSIONBRIDGE_"):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """One throw-away PostgreSQL cluster for the session; the tests that need it skip without it."""
    try:
        server = start_server()
    except LookupError as exc:
        pytest.skip(str(exc))
    try:
        yield server
    finally:
        remove_server(server)


@pytest.fixture(params=["sqlite", "postgresql"])
def ledger_backend(request: pytest.FixtureRequest) -> str:
    """Which database a test's ledger lives in: every test with a ledger runs against both.

    A test about SQLite itself pins it with `@pytest.mark.parametrize("ledger_backend",
    ["sqlite"])` and a comment saying why.
    """
    backend: str = request.param
    return backend


@pytest.fixture
def ledger_target(
    ledger_backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> Path | str:
    """A fresh, empty ledger of the backend under test: a SQLite path or a PostgreSQL URL."""
    if ledger_backend == "sqlite":
        return tmp_path / "ledger.db"
    server: PostgresServer = request.getfixturevalue("postgres")
    return server.database()


@pytest.fixture
def ledger_storage(ledger_target: Path | str) -> dict[str, str]:
    """The `[storage]` section naming the ledger under test: its SQLite `path` or its `url`."""
    if isinstance(ledger_target, Path):
        return {"path": str(ledger_target)}
    return {"url": ledger_target}


@pytest.fixture
async def world(ledger_target: Path | str) -> AsyncIterator[World]:
    """Both simulators served on loopback, shared by the daemon tests, and the ledger's backend."""
    url = None if isinstance(ledger_target, Path) else ledger_target
    async with served_world(ledger_url=url) as served:
        yield served
