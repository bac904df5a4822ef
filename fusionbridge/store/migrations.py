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
    (
        """CREATE TABLE plants (
            code TEXT PRIMARY KEY,
            name TEXT NOT NULL,
            capacity_kwp TEXT,
            grid_connection_date TEXT
        ) STRICT""",
        """CREATE TABLE devices (
            id INTEGER PRIMARY KEY,
            plant_code TEXT NOT NULL,
            type_id INTEGER NOT NULL,
            name TEXT NOT NULL,
            esn TEXT,
            model TEXT
        ) STRICT""",
        """CREATE TABLE inventory_refresh (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            refreshed_at TEXT NOT NULL
        ) STRICT""",
        """CREATE TABLE daily_energy (
            source TEXT NOT NULL,
            day TEXT NOT NULL,
            kwh TEXT NOT NULL,
            raw TEXT NOT NULL,
            key TEXT NOT NULL,
            fetched_at TEXT NOT NULL,
            PRIMARY KEY (source, day)
        ) STRICT, WITHOUT ROWID""",
        """CREATE TABLE monthly_energy (
            source TEXT NOT NULL,
            month TEXT NOT NULL,
            kwh TEXT NOT NULL,
            raw TEXT NOT NULL,
            key TEXT NOT NULL,
            fetched_at TEXT NOT NULL,
            PRIMARY KEY (source, month)
        ) STRICT, WITHOUT ROWID""",
        """CREATE TABLE energy_history (
            id INTEGER PRIMARY KEY,
            source TEXT NOT NULL,
            period TEXT NOT NULL,
            kwh TEXT NOT NULL,
            previous_kwh TEXT,
            raw TEXT NOT NULL,
            key TEXT NOT NULL,
            fetched_at TEXT NOT NULL
        ) STRICT""",
        "CREATE INDEX energy_history_by_period ON energy_history (source, period)",
        """CREATE TRIGGER energy_history_no_update BEFORE UPDATE ON energy_history
        BEGIN SELECT RAISE(ABORT, 'energy_history is append-only'); END""",
        """CREATE TRIGGER energy_history_no_delete BEFORE DELETE ON energy_history
        BEGIN SELECT RAISE(ABORT, 'energy_history is append-only'); END""",
        """CREATE TABLE source_capacity (
            source TEXT PRIMARY KEY,
            capacity_kw TEXT NOT NULL,
            observed_at TEXT NOT NULL
        ) STRICT""",
        """CREATE TABLE push_requests (
            id INTEGER PRIMARY KEY,
            payload TEXT NOT NULL,
            begun_at TEXT NOT NULL,
            finished_at TEXT
        ) STRICT""",
        """CREATE TRIGGER push_requests_payload_fixed
        BEFORE UPDATE OF id, payload, begun_at ON push_requests
        BEGIN SELECT RAISE(ABORT, 'push request payloads are append-only'); END""",
        """CREATE TRIGGER push_requests_no_delete BEFORE DELETE ON push_requests
        BEGIN SELECT RAISE(ABORT, 'push requests are append-only'); END""",
        """CREATE TABLE push_request_items (
            request_id INTEGER NOT NULL REFERENCES push_requests (id),
            remote_inv_id TEXT NOT NULL,
            month TEXT NOT NULL,
            kwh TEXT NOT NULL,
            outcome TEXT CHECK (outcome IN ('sent', 'rejected', 'failed', 'pending')),
            process_id INTEGER,
            message TEXT,
            PRIMARY KEY (request_id, remote_inv_id, month)
        ) STRICT""",
        """CREATE TABLE submissions (
            remote_inv_id TEXT NOT NULL,
            month TEXT NOT NULL,
            state TEXT NOT NULL
                CHECK (state IN ('due', 'sending', 'sent', 'accepted', 'rejected', 'failed')),
            value_sent TEXT,
            sent_at TEXT,
            process_id INTEGER,
            processing_status TEXT,
            attempts INTEGER NOT NULL DEFAULT 0,
            last_error TEXT,
            accepted_kwh TEXT,
            accepted_at TEXT,
            drift_kwh TEXT,
            request_id INTEGER REFERENCES push_requests (id),
            updated_at TEXT NOT NULL,
            PRIMARY KEY (remote_inv_id, month)
        ) STRICT""",
        "CREATE INDEX submissions_by_process ON submissions (process_id)",
        """CREATE TABLE job_runs (
            name TEXT PRIMARY KEY,
            last_started_at TEXT,
            last_finished_at TEXT,
            last_success_at TEXT,
            last_failure_at TEXT,
            last_error TEXT,
            running INTEGER NOT NULL DEFAULT 0,
            runs INTEGER NOT NULL DEFAULT 0,
            successes INTEGER NOT NULL DEFAULT 0,
            failures INTEGER NOT NULL DEFAULT 0
        ) STRICT""",
    ),
    (
        """CREATE TABLE findings (
            source TEXT NOT NULL,
            month TEXT NOT NULL,
            kind TEXT NOT NULL,
            period TEXT NOT NULL,
            message TEXT NOT NULL,
            found_at TEXT NOT NULL,
            PRIMARY KEY (source, month, kind, period)
        ) STRICT, WITHOUT ROWID""",
    ),
    (
        # SPEC §15 evidence: raw FusionSolar answers, REDEX answers and status history, and the
        # notifications already sent (so none is repeated across restarts and replicas).
        """CREATE TABLE raw_responses (
            id INTEGER PRIMARY KEY,
            endpoint TEXT NOT NULL,
            request TEXT NOT NULL,
            fetched_at TEXT NOT NULL,
            sha256 TEXT NOT NULL,
            size INTEGER NOT NULL,
            codec TEXT NOT NULL,
            body BLOB NOT NULL
        ) STRICT""",
        "CREATE INDEX raw_responses_by_time ON raw_responses (fetched_at)",
        "ALTER TABLE daily_energy ADD COLUMN raw_response_id INTEGER",
        "ALTER TABLE monthly_energy ADD COLUMN raw_response_id INTEGER",
        "ALTER TABLE energy_history ADD COLUMN raw_response_id INTEGER",
        """CREATE TABLE push_answers (
            request_id INTEGER PRIMARY KEY REFERENCES push_requests (id),
            http_status INTEGER NOT NULL,
            body TEXT NOT NULL,
            received_at TEXT NOT NULL
        ) STRICT""",
        """CREATE TABLE process_statuses (
            id INTEGER PRIMARY KEY,
            process_id INTEGER NOT NULL,
            status TEXT NOT NULL,
            body TEXT NOT NULL,
            seen_at TEXT NOT NULL
        ) STRICT""",
        "CREATE INDEX process_statuses_by_process ON process_statuses (process_id, id)",
        """CREATE TABLE notifications (
            key TEXT PRIMARY KEY,
            kind TEXT NOT NULL,
            title TEXT NOT NULL,
            body TEXT NOT NULL,
            detected_at TEXT NOT NULL,
            state TEXT NOT NULL CHECK (state IN ('sending', 'sent', 'failed')),
            attempts INTEGER NOT NULL DEFAULT 0,
            claimed_by TEXT,
            claimed_at TEXT,
            delivered_at TEXT,
            last_error TEXT
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
