"""Opening the ledger: directory, PRAGMAs, migrations, refusal of newer files, error translation.

The backend-neutral tests run against SQLite and PostgreSQL; the rest are about SQLite's file.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from fusionbridge.clock import VirtualClock
from fusionbridge.core.models import Month, SubmissionState
from fusionbridge.errors import LedgerError
from fusionbridge.fusionsolar.state import EndpointState
from fusionbridge.store import SCHEMA_VERSION, Ledger, migrations

T0 = datetime(2025, 3, 1, 6, 30, tzinfo=UTC)


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock(T0)


def _tables(path: Path) -> set[str]:
    with sqlite3.connect(path) as conn:
        rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    return {name for (name,) in rows}


async def _ledger_tables(ledger: Ledger) -> set[str]:
    if ledger.dialect == "sqlite":
        sql = "SELECT name FROM sqlite_master WHERE type = 'table'"
    else:
        sql = "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
    return {str(row[0]) for row in await ledger._db.fetchall(sql)}


async def _history(ledger: Ledger) -> list[tuple[int, str]]:
    rows = await ledger._db.fetchall("SELECT version, applied_at FROM schema_history ORDER BY 1")
    return [(int(row[0]), str(row[1])) for row in rows]


async def test_open_migrates_an_empty_ledger(
    ledger_target: Path | str, clock: VirtualClock
) -> None:
    async with Ledger.open(ledger_target, clock) as ledger:
        assert ledger.schema_version == SCHEMA_VERSION
        assert await ledger.integrity_check() == ["ok"]
        assert {"schema_history", "endpoint_pacing", "submissions"} <= await _ledger_tables(ledger)
        assert await _history(ledger) == [
            (v, "2025-03-01T06:30:00.000000+00:00") for v in range(1, SCHEMA_VERSION + 1)
        ]


# SQLite only: a file and its directories are created; user_version and WAL are read back
async def test_open_creates_directory_and_migrates_empty_file(
    tmp_path: Path, clock: VirtualClock
) -> None:
    path = tmp_path / "deep" / "state" / "ledger.db"
    async with Ledger.open(path, clock) as ledger:
        assert ledger.schema_version == SCHEMA_VERSION
        assert await ledger.integrity_check() == ["ok"]
    assert path.is_file()
    assert {"schema_history", "endpoint_pacing", "fusionsolar_session"} <= _tables(path)
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        history = conn.execute("SELECT version, applied_at FROM schema_history").fetchall()
    assert history == [
        (v, "2025-03-01T06:30:00.000000+00:00") for v in range(1, SCHEMA_VERSION + 1)
    ]


# SQLite only: the PRAGMAs of a SQLite connection
async def test_connection_pragmas(tmp_path: Path, clock: VirtualClock) -> None:
    async with Ledger.open(tmp_path / "l.db", clock) as ledger:
        db = ledger._db
        assert tuple((await db.fetchone("PRAGMA synchronous")) or ()) == (2,)  # FULL
        assert tuple((await db.fetchone("PRAGMA foreign_keys")) or ()) == (1,)
        assert tuple((await db.fetchone("PRAGMA busy_timeout")) or ()) == (5000,)


async def test_reopen_is_idempotent(ledger_target: Path | str, clock: VirtualClock) -> None:
    async with Ledger.open(ledger_target, clock):
        pass
    clock.advance(3600)
    async with Ledger.open(ledger_target, clock) as ledger:
        assert ledger.schema_version == SCHEMA_VERSION
        assert len(await _history(ledger)) == SCHEMA_VERSION


async def test_upgrade_from_first_version_keeps_data(
    ledger_target: Path | str, clock: VirtualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    paced = EndpointState(last_call=T0, calls_on_day=3)
    with monkeypatch.context() as patched:
        patched.setattr(migrations, "SCHEMA_VERSION", 1)
        async with Ledger.open(ledger_target, clock) as old:
            assert old.schema_version == 1
            async with old._db.transaction() as tx:  # a first-version row, as that code wrote it
                await tx.execute(
                    "INSERT INTO endpoint_pacing (endpoint, last_call, calls_on_day) "
                    "VALUES ('getDevKpiDay', '2025-03-01T06:30:00.000000+00:00', 3)"
                )
            assert "submissions" not in await _ledger_tables(old)
    clock.advance(60)
    async with Ledger.open(ledger_target, clock) as ledger:
        assert ledger.schema_version == SCHEMA_VERSION
        assert await ledger.pacing.load_endpoints() == {"getDevKpiDay": paced}
        assert await ledger.submissions.records() == []
        applied = await _history(ledger)
    assert applied[:2] == [
        (1, "2025-03-01T06:30:00.000000+00:00"),
        (2, "2025-03-01T06:31:00.000000+00:00"),
    ]


# SQLite only: rows go into a version-3 SQLite file by hand; PRAGMA foreign_key_check after
async def test_the_safety_step_rebuilds_both_state_tables_and_keeps_their_rows(
    tmp_path: Path, clock: VirtualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "l.db"
    with monkeypatch.context() as patched:
        patched.setattr(migrations, "SCHEMA_VERSION", 3)
        async with Ledger.open(path, clock) as old:
            assert old.schema_version == 3
    jan = Month(2025, 1)
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute(
            "INSERT INTO push_requests (id, payload, begun_at) VALUES (1, '[]', '2025-03-01T06:30:00.000000+00:00')"
        )
        conn.execute(
            "INSERT INTO push_request_items VALUES (1, 'RM-1', '2025-01', '5.000', 'sent', 9, NULL)"
        )
        conn.execute(
            """INSERT INTO submissions (remote_inv_id, month, state, value_sent, process_id,
            attempts, request_id, updated_at)
            VALUES ('RM-1', '2025-01', 'sent', '5.000', 9, 1, 1, ?)""",
            ("2025-03-01T06:30:00.000000+00:00",),
        )
        with pytest.raises(sqlite3.IntegrityError):  # version 3 knows no `held`
            conn.execute("UPDATE submissions SET state = 'held'")
    async with Ledger.open(path, clock) as ledger:
        [record] = await ledger.submissions.records()
        assert (record.state, record.value_sent, record.process_id, record.requested_kwh) == (
            SubmissionState.SENT,
            Decimal("5.000"),
            9,
            Decimal("5.000"),
        )
        assert record.unconfirmed_runs == 0
        assert await ledger.submissions.hold("RM-1", jan, "negative value", clock.now())
        assert await ledger.integrity_check() == ["ok"]
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        indexes = conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'").fetchall()
    assert ("submissions_by_process",) in indexes
    assert "leases" in _tables(path)


async def test_newer_ledger_is_refused(ledger_target: Path | str, clock: VirtualClock) -> None:
    async with Ledger.open(ledger_target, clock) as ledger, ledger._db.transaction() as tx:
        if ledger.dialect == "sqlite":
            await tx.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
        else:
            await tx.execute(
                "INSERT INTO schema_history (version, applied_at) VALUES (?, 'later')",
                (SCHEMA_VERSION + 1,),
            )
    with pytest.raises(LedgerError, match="newer than this fusionbridge"):
        async with Ledger.open(ledger_target, clock):
            pass


# SQLite only: a file that is not a SQLite database
async def test_not_a_database_is_a_ledger_error(tmp_path: Path, clock: VirtualClock) -> None:
    path = tmp_path / "l.db"
    path.write_bytes(b"this is not sqlite, just text that is long enough " * 40)
    with pytest.raises(LedgerError) as caught:
        async with Ledger.open(path, clock):
            pass
    assert isinstance(caught.value.__cause__, sqlite3.Error)


# SQLite only: the directory of a SQLite file cannot be made
async def test_unwritable_directory_is_a_ledger_error(tmp_path: Path, clock: VirtualClock) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(LedgerError, match="directory") as caught:
        async with Ledger.open(blocker / "sub" / "l.db", clock):
            pass
    assert isinstance(caught.value.__cause__, OSError)


async def test_use_after_close_is_a_ledger_error(
    ledger_target: Path | str, clock: VirtualClock
) -> None:
    async with Ledger.open(ledger_target, clock) as ledger:
        pass
    with pytest.raises(LedgerError):
        await ledger.pacing.load_session()


async def _insert_twice(ledger: Ledger) -> None:
    async with ledger._db.transaction() as tx:
        await tx.execute(
            "INSERT INTO endpoint_pacing (account, endpoint, calls_on_day) VALUES ('default', 'a', 1)"
        )
        await tx.execute("INSERT INTO endpoint_pacing (account, endpoint) VALUES ('default', 'a')")


async def test_failed_transaction_rolls_back(
    ledger_target: Path | str, clock: VirtualClock
) -> None:
    async with Ledger.open(ledger_target, clock) as ledger:
        with pytest.raises(LedgerError, match=r"(?i)unique"):
            await _insert_twice(ledger)
        assert await ledger.pacing.load_endpoints() == {}
        # the connection is usable again after the rollback
        async with ledger._db.transaction() as tx:
            await tx.execute(
                "INSERT INTO endpoint_pacing (account, endpoint) VALUES ('default', 'b')"
            )
        assert list(await ledger.pacing.load_endpoints()) == ["b"]


async def _violate_at_commit(ledger: Ledger) -> None:
    async with ledger._db.transaction() as tx:
        await tx.execute("PRAGMA defer_foreign_keys = ON")
        await tx.execute(
            "INSERT INTO endpoint_pacing (account, endpoint) VALUES ('default', 'kept-out')"
        )
        await tx.execute(
            "INSERT INTO push_request_items (request_id, remote_inv_id, month, kwh) "
            "VALUES (999, 'INV', '2025-01', '1')"
        )


# SQLite only: the violation is held to the commit by PRAGMA defer_foreign_keys
async def test_failed_commit_rolls_back(tmp_path: Path, clock: VirtualClock) -> None:
    async with Ledger.open(tmp_path / "l.db", clock) as ledger:
        with pytest.raises(LedgerError, match="commit failed: FOREIGN KEY"):
            await _violate_at_commit(ledger)
        assert await ledger.pacing.load_endpoints() == {}
        assert await ledger.submissions.request_log() == []
        async with ledger._db.transaction() as tx:
            await tx.execute(
                "INSERT INTO endpoint_pacing (account, endpoint) VALUES ('default', 'b')"
            )
        assert list(await ledger.pacing.load_endpoints()) == ["b"]


async def test_change_marker_moves_with_any_commit(
    ledger_target: Path | str, clock: VirtualClock
) -> None:
    async with (
        Ledger.open(ledger_target, clock) as ledger,
        Ledger.open(ledger_target, clock) as other,
    ):
        quiet = await ledger.change_marker()
        await ledger.pacing.load_endpoints()
        if ledger.dialect == "sqlite":  # PostgreSQL's WAL position may move without our commits
            assert await ledger.change_marker() == quiet
        await ledger.pacing.save_endpoint("mine", EndpointState(calls_on_day=1))
        after_own = await ledger.change_marker()
        assert after_own != quiet
        await other.pacing.save_endpoint("theirs", EndpointState(calls_on_day=1))
        assert await ledger.change_marker() != after_own
