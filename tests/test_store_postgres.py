"""PostgreSQL specifics: the SQL translation, migration twins, the URL as a secret, a lost server."""

from __future__ import annotations

import asyncio
import os
import sqlite3
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest

from fusionbridge.cli.main import main
from fusionbridge.clock import VirtualClock
from fusionbridge.core.models import DEVICE_METRIC, EnergyReading, Month, SourceKind, SourceRef
from fusionbridge.errors import ConfigError, LedgerError, LedgerUnavailable
from fusionbridge.fusionsolar.state import EndpointState, SessionState
from fusionbridge.settings import load_settings
from fusionbridge.store import SCHEMA_VERSION, Ledger, migrations, migrations_pg
from fusionbridge.store.migrations import MIGRATIONS
from fusionbridge.store.migrations_pg import postgres_step
from fusionbridge.store.pg_sql import bind, translate
from fusionbridge.store.pg_url import redact, safe_location, url_problem
from tests.postgres_server import PASSWORD, USER, PostgresServer, _free_port
from tests.test_settings import BASE, write

T0 = datetime(2025, 3, 1, 6, 30, tzinfo=UTC)


# --- the part SQL as psycopg sees it -------------------------------------------------------------


def test_placeholders_become_named_and_percent_is_escaped() -> None:
    assert translate("SELECT a FROM t WHERE b = ? AND c LIKE 'x%?' AND d = ?") == (
        "SELECT a FROM t WHERE b = %(p1)s AND c LIKE 'x%%?' AND d = %(p2)s",
        2,
    )
    assert translate("UPDATE t SET a = ?2 WHERE b IS DISTINCT FROM ?1 AND c = ?1") == (
        "UPDATE t SET a = %(p2)s WHERE b IS DISTINCT FROM %(p1)s AND c = %(p1)s",
        2,
    )
    assert translate("SELECT 'it''s ?' , \"we?ird\" FROM t WHERE x = ?")[1] == 1
    assert bind(2, ("a", None)) == {"p1": "a", "p2": None}
    with pytest.raises(ValueError, match="takes 2 parameters"):
        bind(2, ("a",))


def test_json_vocabulary_is_translated() -> None:
    query, count = translate(
        "SELECT e.x FROM json_each(?) AS j JOIN t AS e "
        "ON e.a = json_extract(j.value, '$[0]') AND e.b = json_extract(j.value, '$[1]')"
    )
    assert count == 1
    assert "json_array_elements_text(CAST(%(p1)s AS json)) AS j" in query
    assert "(CAST(j.value AS json) ->> 0)" in query
    assert "(CAST(j.value AS json) ->> 1)" in query


# --- migration twins ----------------------------------------------------------------------------


def test_every_step_has_a_postgres_form() -> None:
    for number, step in enumerate(MIGRATIONS, start=1):
        translated = postgres_step(number, step)
        assert translated
        for statement in translated:
            assert "STRICT" not in statement
            assert "WITHOUT ROWID" not in statement
            assert "RAISE(ABORT" not in statement


def test_untranslatable_statement_is_refused_by_step(monkeypatch: pytest.MonkeyPatch) -> None:
    step = ("CREATE VIRTUAL TABLE notes USING fts5(body)",)
    with pytest.raises(LedgerError, match=r"step 9 has no PostgreSQL form.*POSTGRES_FORMS"):
        postgres_step(9, step)
    form = ("CREATE TABLE notes (body TEXT)", "CREATE INDEX notes_by_body ON notes (body)")
    monkeypatch.setitem(migrations_pg.POSTGRES_FORMS, step[0], form)
    assert postgres_step(9, ("CREATE TABLE a (b INTEGER) STRICT", *step)) == (
        "CREATE TABLE a (b BIGINT)",
        *form,
    )
    added = postgres_step(10, ("ALTER TABLE submissions ADD COLUMN held_at INTEGER",))
    assert added == ("ALTER TABLE submissions ADD COLUMN held_at BIGINT",)


def _sqlite_columns(path: Path) -> dict[str, list[tuple[str, str, bool, bool]]]:
    with sqlite3.connect(path) as conn:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        out: dict[str, list[tuple[str, str, bool, bool]]] = {}
        for table in tables:
            rows = conn.execute(f"PRAGMA table_info({table})").fetchall()
            out[table] = [
                (
                    name,
                    {"INTEGER": "bigint", "TEXT": "text", "BLOB": "bytea"}[kind],
                    bool(notnull),
                    pk > 0,
                )
                for _, name, kind, notnull, _, pk in rows
            ]
    return out


def _postgres_columns(url: str) -> dict[str, list[tuple[str, str, bool, bool]]]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            """SELECT c.table_name, c.column_name, c.data_type, c.is_nullable = 'NO',
                EXISTS (SELECT 1 FROM information_schema.key_column_usage AS k
                    JOIN information_schema.table_constraints AS t
                    ON t.constraint_name = k.constraint_name AND t.table_schema = k.table_schema
                    WHERE t.constraint_type = 'PRIMARY KEY' AND k.table_schema = c.table_schema
                    AND k.table_name = c.table_name AND k.column_name = c.column_name)
            FROM information_schema.columns AS c WHERE c.table_schema = current_schema()
            ORDER BY c.table_name, c.ordinal_position"""
        ).fetchall()
    out: dict[str, list[tuple[str, str, bool, bool]]] = {}
    for table, name, kind, notnull, pk in rows:
        out.setdefault(table, []).append((name, kind, notnull, pk))
    return out


async def test_both_backends_build_the_same_schema(
    tmp_path: Path, postgres: PostgresServer
) -> None:
    """Same tables, columns in order, types, NOT NULL and keys (SQLite's keys are NOT NULL too)."""
    url = postgres.database()
    async with Ledger.open(tmp_path / "l.db", VirtualClock(T0)), Ledger.open(url, VirtualClock(T0)):
        pass
    lite, pg = _sqlite_columns(tmp_path / "l.db"), _postgres_columns(url)
    assert sorted(lite) == sorted(pg)
    for table, columns in lite.items():
        assert [(n, k, nn or key, key) for n, k, nn, key in columns] == pg[table], table


async def test_concurrent_first_opens_migrate_once(postgres: PostgresServer) -> None:
    url = postgres.database()
    clock = VirtualClock(T0)
    ledgers = await asyncio.gather(*(Ledger.connect(url, clock) for _ in range(3)))
    try:
        assert {ledger.schema_version for ledger in ledgers} == {SCHEMA_VERSION}
        rows = await ledgers[0]._db.fetchall("SELECT version FROM schema_history ORDER BY 1")
        assert [row[0] for row in rows] == list(range(1, SCHEMA_VERSION + 1))
    finally:
        for ledger in ledgers:
            await ledger.close()


# --- the URL is a secret ------------------------------------------------------------------------


def test_url_checks_and_redaction() -> None:
    url = "postgresql://fb:s%40cret@db.example:5433/ledger?sslmode=require"
    assert url_problem(url) is None
    assert url_problem("postgresql:///ledger?host=/run/postgresql") is None
    assert url_problem("mysql://fb:x@db/ledger") == "must start with postgresql://"
    assert url_problem("postgresql://fb:x@db:99999/ledger") == "is not a valid URL"
    assert url_problem("postgresql://fb@db/ledger?nonsense=1") is not None
    assert safe_location(url) == "postgresql://fb@db.example:5433/ledger"
    assert redact(f"failed for {url}: s@cret, s%40cret", url) == "failed for ***: ***, ***"


def test_url_comes_from_env_or_secrets_dir_and_is_never_shown(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path, BASE)
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "storage__url").write_text("postgresql://fb:from-file@db/ledger")
    monkeypatch.setenv("FUSIONBRIDGE_SECRETS_DIR", str(secrets))
    settings = load_settings(path)
    assert settings.storage.url is not None
    assert settings.storage.url.get_secret_value() == "postgresql://fb:from-file@db/ledger"
    assert "from-file" not in repr(settings) + settings.model_dump_json()
    monkeypatch.setenv("FUSIONBRIDGE_STORAGE__URL", "postgresql://fb:from-env@db/ledger")
    settings = load_settings(path)
    assert settings.storage.url is not None
    assert "from-env" in settings.storage.url.get_secret_value()


def test_malformed_url_exits_78_without_echoing_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("FUSIONBRIDGE_STORAGE__URL", "postgres://fb:hunter2@db:port/ledger")
    assert main(["--config", str(write(tmp_path, BASE)), "status"]) == 78
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["fusionbridge: config: storage.url: is not a valid URL"]


def test_unreachable_server_at_start_is_one_line_exit_1(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"postgresql://{USER}:{PASSWORD}@127.0.0.1:{_free_port()}/ledger"
    monkeypatch.setenv("FUSIONBRIDGE_STORAGE__URL", url)
    assert main(["--config", str(write(tmp_path, BASE)), "status"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith("fusionbridge: error: ledger connect failed:")
    assert PASSWORD not in err[0]


async def test_wrong_password_is_a_ledger_error_without_it(postgres: PostgresServer) -> None:
    url = postgres.database().replace(PASSWORD, "not-the-password")
    with pytest.raises(LedgerError, match="password authentication failed") as caught:
        await Ledger.connect(url, VirtualClock(T0))
    assert "not-the-password" not in str(caught.value)


# --- a server that goes away and comes back -----------------------------------------------------


async def test_ledger_survives_a_server_restart(postgres: PostgresServer) -> None:
    paced = EndpointState(last_call=T0, calls_on_day=2)
    async with Ledger.open(postgres.database(), VirtualClock(T0)) as ledger:
        await ledger.pacing.save_endpoint("getDevKpiDay", paced)
        postgres.stop()
        try:
            with pytest.raises(LedgerUnavailable) as caught:
                await ledger.pacing.load_endpoints()
            assert PASSWORD not in str(caught.value)
            with pytest.raises(LedgerUnavailable):
                await ledger.pacing.save_endpoint("getDevKpiMonth", paced)
        finally:
            postgres.start()
        assert await ledger.pacing.load_endpoints() == {"getDevKpiDay": paced}
        await ledger.pacing.save_endpoint("getDevKpiMonth", paced)
        assert set(await ledger.pacing.load_endpoints()) == {"getDevKpiDay", "getDevKpiMonth"}


async def test_a_malformed_url_given_directly_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"storage\.url: must start with postgresql://"):
        await Ledger.connect("mysql://x:y@db/ledger", VirtualClock(T0))


async def test_a_table_rebuild_step_keeps_ids_moving(
    postgres: PostgresServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite's way to change a table (copy, drop, rename) translates and keeps ids unique."""
    url = postgres.database()
    source = SourceRef(SourceKind.DEVICE, "1000000000000001", DEVICE_METRIC)

    def reading(kwh: str) -> EnergyReading:
        return EnergyReading(source, Month(2025, 1), Decimal(kwh), kwh, DEVICE_METRIC, T0)

    async with Ledger.open(url, VirtualClock(T0)) as ledger:
        await ledger.energy.save_readings([reading("1.5")])
    rebuild = (
        """CREATE TABLE energy_history_new (
            id INTEGER PRIMARY KEY,
            source TEXT NOT NULL,
            period TEXT NOT NULL,
            kwh TEXT NOT NULL,
            previous_kwh TEXT,
            raw TEXT NOT NULL,
            key TEXT NOT NULL,
            fetched_at TEXT NOT NULL,
            raw_response_id INTEGER,
            note TEXT
        ) STRICT""",
        """INSERT INTO energy_history_new (id, source, period, kwh, previous_kwh, raw, key,
            fetched_at, raw_response_id) SELECT id, source, period, kwh, previous_kwh, raw, key,
            fetched_at, raw_response_id FROM energy_history""",
        "DROP TABLE energy_history",
        "ALTER TABLE energy_history_new RENAME TO energy_history",
        "CREATE INDEX energy_history_by_period ON energy_history (source, period)",
        """CREATE TRIGGER energy_history_no_delete BEFORE DELETE ON energy_history
        BEGIN SELECT RAISE(ABORT, 'energy_history is append-only'); END""",
    )
    monkeypatch.setattr(migrations, "MIGRATIONS", (*migrations.MIGRATIONS, rebuild))
    monkeypatch.setattr(migrations, "SCHEMA_VERSION", SCHEMA_VERSION + 1)
    async with Ledger.open(url, VirtualClock(T0)) as ledger:
        assert ledger.schema_version == SCHEMA_VERSION + 1
        await ledger.energy.save_readings([reading("2.5")])
        history = await ledger.energy.history(source, Month(2025, 1))
        assert [(r.kwh, previous) for r, previous in history] == [
            (Decimal("1.5"), None),
            (Decimal("2.5"), Decimal("1.5")),
        ]
        with pytest.raises(LedgerError, match="append-only"):
            async with ledger._db.transaction() as tx:
                await tx.execute("DELETE FROM energy_history")


async def test_connection_options_default_but_the_url_wins(postgres: PostgresServer) -> None:
    url = postgres.database()
    async with Ledger.open(url, VirtualClock(T0)) as ledger:
        row = await ledger._db.fetchone("SELECT current_setting('application_name')")
        assert row is not None
        assert row[0] == "fusionbridge"
    async with Ledger.open(url + "&application_name=fleet-a", VirtualClock(T0)) as ledger:
        row = await ledger._db.fetchone("SELECT current_setting('application_name')")
        assert row is not None
        assert row[0] == "fleet-a"


async def test_the_change_marker_sees_a_commit_the_server_has_not_written_yet(
    postgres: PostgresServer,
) -> None:
    """Under synchronous_commit=off the WAL is written after COMMIT returns: seen at once anyway."""
    url = postgres.database()
    lazy = url.replace("options=", "options=-csynchronous_commit%3Doff%20", 1)
    async with (
        Ledger.open(url, VirtualClock(T0)) as reader,
        Ledger.open(lazy, VirtualClock(T0)) as writer,
    ):
        row = await writer._db.fetchone("SELECT current_setting('synchronous_commit')")
        assert row is not None
        assert row[0] == "off"
        for n in range(20):  # the WAL writer may catch up by chance once, not twenty times
            before = await reader.change_marker()
            await writer.pacing.save_endpoint(f"endpoint-{n}", EndpointState(calls_on_day=1))
            assert await reader.change_marker() != before, f"commit {n} went unseen"


async def test_a_sql_ascii_database_still_gives_text(postgres: PostgresServer) -> None:
    """A database created without UTF8 (a hand-made server) must not turn every value to bytes."""
    name = f"ascii_{os.getpid()}"
    with psycopg.connect(postgres.url(), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f"CREATE DATABASE \"{name}\" ENCODING 'SQL_ASCII' TEMPLATE template0")
    try:
        async with Ledger.open(postgres.url(name), VirtualClock(T0)) as ledger:
            await ledger.pacing.save_session(SessionState(token="tok", logged_in_at=T0))
            session = await ledger.pacing.load_session()
            assert (session.token, session.logged_in_at) == ("tok", T0)
    finally:
        with psycopg.connect(postgres.url(), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
