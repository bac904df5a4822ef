"""The ledger schema as numbered steps, written for SQLite; `migrations_pg` gives their twins."""

from __future__ import annotations

# Each step is a tuple of single statements (no executescript: it would COMMIT our transaction).
# Append new steps; never edit an applied one. PostgreSQL runs each step's twin from
# migrations_pg.postgres_step; a statement its rules refuse gets a POSTGRES_FORMS entry there.
STEPS: tuple[tuple[str, ...], ...] = (
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
        # SPEC §10: the account lease, and the states `held` and `unconfirmed`. SQLite cannot
        # alter a CHECK, so both tables whose CHECK names states are rebuilt, rows kept.
        """CREATE TABLE leases (
            account TEXT PRIMARY KEY,
            holder TEXT NOT NULL,
            token TEXT NOT NULL,
            taken_at TEXT NOT NULL,
            renewed_at TEXT NOT NULL
        ) STRICT""",
        """CREATE TABLE push_request_items_v4 (
            request_id INTEGER NOT NULL REFERENCES push_requests (id),
            remote_inv_id TEXT NOT NULL,
            month TEXT NOT NULL,
            kwh TEXT NOT NULL,
            outcome TEXT
                CHECK (outcome IN ('sent', 'rejected', 'failed', 'pending', 'unconfirmed')),
            process_id INTEGER,
            message TEXT,
            PRIMARY KEY (request_id, remote_inv_id, month)
        ) STRICT""",
        "INSERT INTO push_request_items_v4 SELECT * FROM push_request_items",
        "DROP TABLE push_request_items",
        "ALTER TABLE push_request_items_v4 RENAME TO push_request_items",
        """CREATE TABLE submissions_v4 (
            remote_inv_id TEXT NOT NULL,
            month TEXT NOT NULL,
            state TEXT NOT NULL CHECK (state IN ('held', 'due', 'sending', 'unconfirmed',
                'sent', 'accepted', 'rejected', 'failed')),
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
            unconfirmed_runs INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (remote_inv_id, month)
        ) STRICT""",
        """INSERT INTO submissions_v4 (remote_inv_id, month, state, value_sent, sent_at,
            process_id, processing_status, attempts, last_error, accepted_kwh, accepted_at,
            drift_kwh, request_id, updated_at)
        SELECT remote_inv_id, month, state, value_sent, sent_at, process_id, processing_status,
            attempts, last_error, accepted_kwh, accepted_at, drift_kwh, request_id, updated_at
        FROM submissions""",
        "DROP TABLE submissions",
        "ALTER TABLE submissions_v4 RENAME TO submissions",
        "CREATE INDEX submissions_by_process ON submissions (process_id)",
        # capacity comes from the inventory (plants.capacity_kwp); this table was never written
        "DROP TABLE source_capacity",
    ),
    (
        # SPEC §12: the owner's OAuth Connect tokens and any refusal of them (one account).
        """CREATE TABLE fusionsolar_oauth (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            client_id TEXT NOT NULL,
            access_token TEXT NOT NULL,
            refresh_token TEXT NOT NULL,
            expires_at TEXT NOT NULL,
            scope TEXT NOT NULL,
            obtained_at TEXT NOT NULL,
            refused_at TEXT,
            refused_reason TEXT
        ) STRICT""",
    ),
    (  # SPEC §11: daily-registered inverters, their requests, days and lifetime baselines
        """CREATE TABLE day_requests (
            id INTEGER PRIMARY KEY,
            payload TEXT NOT NULL,
            begun_at TEXT NOT NULL,
            finished_at TEXT
        ) STRICT""",
        """CREATE TRIGGER day_requests_payload_fixed
        BEFORE UPDATE OF id, payload, begun_at ON day_requests
        BEGIN SELECT RAISE(ABORT, 'day request payloads are append-only'); END""",
        """CREATE TRIGGER day_requests_no_delete BEFORE DELETE ON day_requests
        BEGIN SELECT RAISE(ABORT, 'day requests are append-only'); END""",
        """CREATE TABLE day_request_items (
            request_id INTEGER NOT NULL REFERENCES day_requests (id),
            remote_inv_id TEXT NOT NULL,
            day TEXT NOT NULL,
            kwh TEXT NOT NULL,
            accumulated_kwh TEXT NOT NULL,
            outcome TEXT
                CHECK (outcome IN ('sent', 'rejected', 'failed', 'pending', 'unconfirmed')),
            process_id INTEGER,
            message TEXT,
            PRIMARY KEY (request_id, remote_inv_id, day)
        ) STRICT""",
        """CREATE TABLE day_submissions (
            remote_inv_id TEXT NOT NULL,
            day TEXT NOT NULL,
            state TEXT NOT NULL CHECK (state IN ('due', 'sending', 'unconfirmed', 'sent',
                'accepted', 'rejected', 'failed')),
            kwh_sent TEXT,
            accumulated_sent TEXT,
            sent_at TEXT,
            process_id INTEGER,
            processing_status TEXT,
            attempts INTEGER NOT NULL DEFAULT 0,
            last_error TEXT,
            accepted_kwh TEXT,
            accepted_accumulated TEXT,
            accepted_at TEXT,
            request_id INTEGER REFERENCES day_requests (id),
            updated_at TEXT NOT NULL,
            PRIMARY KEY (remote_inv_id, day)
        ) STRICT""",
        "CREATE INDEX day_submissions_by_process ON day_submissions (process_id)",
        """CREATE TABLE day_baselines (
            remote_inv_id TEXT PRIMARY KEY,
            source TEXT NOT NULL,
            anchor_day TEXT NOT NULL,
            opening_kwh TEXT NOT NULL,
            counter_kwh TEXT NOT NULL,
            counter_key TEXT NOT NULL,
            raw TEXT NOT NULL,
            known_kwh TEXT NOT NULL,
            read_at TEXT NOT NULL
        ) STRICT""",
        """CREATE TRIGGER day_baselines_fixed BEFORE UPDATE ON day_baselines
        BEGIN SELECT RAISE(ABORT, 'a baseline is read once and never changes'); END""",
        """CREATE TRIGGER day_baselines_no_delete BEFORE DELETE ON day_baselines
        BEGIN SELECT RAISE(ABORT, 'a baseline is read once and never changes'); END""",
    ),
    (  # SPEC §13: live plant data with its fetch times, and when each kind was last read
        """CREATE TABLE plant_live (
            plant_code TEXT PRIMARY KEY,
            today_kwh TEXT,
            month_kwh TEXT,
            lifetime_kwh TEXT,
            health INTEGER,
            fetched_at TEXT NOT NULL
        ) STRICT""",
        """CREATE TABLE plant_hourly (
            plant_code TEXT NOT NULL,
            hour_start TEXT NOT NULL,
            kwh TEXT NOT NULL,
            fetched_at TEXT NOT NULL,
            PRIMARY KEY (plant_code, hour_start)
        ) STRICT, WITHOUT ROWID""",
        """CREATE TABLE plant_yearly (
            plant_code TEXT NOT NULL,
            year INTEGER NOT NULL,
            kwh TEXT NOT NULL,
            fetched_at TEXT NOT NULL,
            PRIMARY KEY (plant_code, year)
        ) STRICT, WITHOUT ROWID""",
        """CREATE TABLE live_fetches (
            kind TEXT PRIMARY KEY,
            fetched_at TEXT NOT NULL
        ) STRICT""",
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
    (
        # SPEC §15 evidence for daily inverters (§11): REDEX's answer to each day request as
        # received, as push_answers keeps it for monthly requests; the baseline's raw answer.
        """CREATE TABLE day_answers (
            request_id INTEGER PRIMARY KEY REFERENCES day_requests (id),
            http_status INTEGER NOT NULL,
            body TEXT NOT NULL,
            received_at TEXT NOT NULL
        ) STRICT""",
        # the lifetime counter's answer as received, linked from the baseline it produced (a
        # table of its own: a baseline row never changes)
        """CREATE TABLE day_baseline_answers (
            remote_inv_id TEXT PRIMARY KEY REFERENCES day_baselines (remote_inv_id),
            raw_response_id INTEGER NOT NULL
        ) STRICT""",
    ),
    (
        # SPEC §14: one ledger for many FusionSolar accounts. Each table that held one account's
        # state (pacing, login, OAuth tokens, job runs, inventory, live fetch times) is rebuilt
        # keyed by account; the rows it had belong to the Part I account `default`.
        """CREATE TABLE endpoint_pacing_v14 (
            account TEXT NOT NULL,
            endpoint TEXT NOT NULL,
            last_call TEXT,
            day TEXT,
            calls_on_day INTEGER NOT NULL DEFAULT 0,
            blocked_until TEXT,
            PRIMARY KEY (account, endpoint)
        ) STRICT, WITHOUT ROWID""",
        """INSERT INTO endpoint_pacing_v14
        SELECT 'default', endpoint, last_call, day, calls_on_day, blocked_until
        FROM endpoint_pacing""",
        "DROP TABLE endpoint_pacing",
        "ALTER TABLE endpoint_pacing_v14 RENAME TO endpoint_pacing",
        """CREATE TABLE fusionsolar_session_v14 (
            account TEXT PRIMARY KEY,
            token TEXT,
            logged_in_at TEXT,
            login_attempts TEXT NOT NULL DEFAULT '[]',
            refused_fingerprint TEXT,
            refused_at TEXT
        ) STRICT, WITHOUT ROWID""",
        """INSERT INTO fusionsolar_session_v14
        SELECT 'default', token, logged_in_at, login_attempts, refused_fingerprint, refused_at
        FROM fusionsolar_session""",
        "DROP TABLE fusionsolar_session",
        "ALTER TABLE fusionsolar_session_v14 RENAME TO fusionsolar_session",
        """CREATE TABLE fusionsolar_oauth_v14 (
            account TEXT PRIMARY KEY,
            client_id TEXT NOT NULL,
            access_token TEXT NOT NULL,
            refresh_token TEXT NOT NULL,
            expires_at TEXT NOT NULL,
            scope TEXT NOT NULL,
            obtained_at TEXT NOT NULL,
            refused_at TEXT,
            refused_reason TEXT
        ) STRICT, WITHOUT ROWID""",
        """INSERT INTO fusionsolar_oauth_v14
        SELECT 'default', client_id, access_token, refresh_token, expires_at, scope,
            obtained_at, refused_at, refused_reason
        FROM fusionsolar_oauth""",
        "DROP TABLE fusionsolar_oauth",
        "ALTER TABLE fusionsolar_oauth_v14 RENAME TO fusionsolar_oauth",
        """CREATE TABLE job_runs_v14 (
            account TEXT NOT NULL,
            name TEXT NOT NULL,
            last_started_at TEXT,
            last_finished_at TEXT,
            last_success_at TEXT,
            last_failure_at TEXT,
            last_error TEXT,
            running INTEGER NOT NULL DEFAULT 0,
            runs INTEGER NOT NULL DEFAULT 0,
            successes INTEGER NOT NULL DEFAULT 0,
            failures INTEGER NOT NULL DEFAULT 0,
            holder TEXT,
            PRIMARY KEY (account, name)
        ) STRICT, WITHOUT ROWID""",
        """INSERT INTO job_runs_v14
        SELECT 'default', name, last_started_at, last_finished_at, last_success_at,
            last_failure_at, last_error, running, runs, successes, failures, NULL
        FROM job_runs""",
        "DROP TABLE job_runs",
        "ALTER TABLE job_runs_v14 RENAME TO job_runs",
        """CREATE TABLE plants_v14 (
            account TEXT NOT NULL,
            code TEXT NOT NULL,
            name TEXT NOT NULL,
            capacity_kwp TEXT,
            grid_connection_date TEXT,
            PRIMARY KEY (account, code)
        ) STRICT, WITHOUT ROWID""",
        """INSERT INTO plants_v14
        SELECT 'default', code, name, capacity_kwp, grid_connection_date FROM plants""",
        "DROP TABLE plants",
        "ALTER TABLE plants_v14 RENAME TO plants",
        """CREATE TABLE devices_v14 (
            account TEXT NOT NULL,
            id INTEGER NOT NULL,
            plant_code TEXT NOT NULL,
            type_id INTEGER NOT NULL,
            name TEXT NOT NULL,
            esn TEXT,
            model TEXT,
            PRIMARY KEY (account, id)
        ) STRICT, WITHOUT ROWID""",
        """INSERT INTO devices_v14
        SELECT 'default', id, plant_code, type_id, name, esn, model FROM devices""",
        "DROP TABLE devices",
        "ALTER TABLE devices_v14 RENAME TO devices",
        """CREATE TABLE inventory_refresh_v14 (
            account TEXT PRIMARY KEY,
            refreshed_at TEXT NOT NULL
        ) STRICT, WITHOUT ROWID""",
        """INSERT INTO inventory_refresh_v14
        SELECT 'default', refreshed_at FROM inventory_refresh""",
        "DROP TABLE inventory_refresh",
        "ALTER TABLE inventory_refresh_v14 RENAME TO inventory_refresh",
        """CREATE TABLE live_fetches_v14 (
            account TEXT NOT NULL,
            kind TEXT NOT NULL,
            fetched_at TEXT NOT NULL,
            PRIMARY KEY (account, kind)
        ) STRICT, WITHOUT ROWID""",
        """INSERT INTO live_fetches_v14 SELECT 'default', kind, fetched_at FROM live_fetches""",
        "DROP TABLE live_fetches",
        "ALTER TABLE live_fetches_v14 RENAME TO live_fetches",
        # a returned lease keeps its row, so `status` can say which process last worked
        "ALTER TABLE leases ADD COLUMN released_at TEXT",
    ),
)
