"""The ledger's side of `PacingStore`: FusionSolar pacing and login state survive restarts."""

from __future__ import annotations

import json
from datetime import date

from fusionbridge.clock import Clock
from fusionbridge.fusionsolar.state import EndpointState, SessionState
from fusionbridge.store.columns import (
    instant,
    instant_text,
    optional_instant,
    optional_instant_text,
)
from fusionbridge.store.database import Database
from fusionbridge.store.leases import DEFAULT_ACCOUNT


class PacingRecords:
    """Endpoint windows and the login session, each save its own committed transaction."""

    def __init__(self, db: Database, clock: Clock, account: str = DEFAULT_ACCOUNT) -> None:
        self._db = db
        self.clock = clock
        self.account = account

    async def load_endpoints(self) -> dict[str, EndpointState]:
        rows = await self._db.fetchall(
            """SELECT endpoint, last_call, day, calls_on_day, blocked_until FROM endpoint_pacing
            WHERE account = ?""",
            (self.account,),
        )
        return {
            row["endpoint"]: EndpointState(
                last_call=optional_instant(row["last_call"]),
                day=None if row["day"] is None else date.fromisoformat(row["day"]),
                calls_on_day=row["calls_on_day"],
                blocked_until=optional_instant(row["blocked_until"]),
            )
            for row in rows
        }

    async def save_endpoint(self, endpoint: str, state: EndpointState) -> None:
        async with self._db.transaction() as tx:
            await tx.execute(
                """INSERT INTO endpoint_pacing
                    (account, endpoint, last_call, day, calls_on_day, blocked_until)
                VALUES (?, ?, ?, ?, ?, ?)
                ON CONFLICT (account, endpoint) DO UPDATE SET last_call = excluded.last_call,
                    day = excluded.day, calls_on_day = excluded.calls_on_day,
                    blocked_until = excluded.blocked_until""",
                (
                    self.account,
                    endpoint,
                    optional_instant_text(state.last_call),
                    None if state.day is None else state.day.isoformat(),
                    state.calls_on_day,
                    optional_instant_text(state.blocked_until),
                ),
            )

    async def load_session(self) -> SessionState:
        row = await self._db.fetchone(
            """SELECT token, logged_in_at, login_attempts, refused_fingerprint, refused_at
            FROM fusionsolar_session WHERE account = ?""",
            (self.account,),
        )
        if row is None:
            return SessionState()
        return SessionState(
            token=row["token"],
            logged_in_at=optional_instant(row["logged_in_at"]),
            login_attempts=tuple(instant(text) for text in json.loads(row["login_attempts"])),
            refused_fingerprint=row["refused_fingerprint"],
            refused_at=optional_instant(row["refused_at"]),
        )

    async def save_session(self, state: SessionState) -> None:
        attempts = json.dumps([instant_text(at) for at in state.login_attempts])
        async with self._db.transaction() as tx:
            await tx.execute(
                """INSERT INTO fusionsolar_session
                    (account, token, logged_in_at, login_attempts, refused_fingerprint, refused_at)
                VALUES (?, ?, ?, ?, ?, ?)
                ON CONFLICT (account) DO UPDATE SET token = excluded.token,
                    logged_in_at = excluded.logged_in_at,
                    login_attempts = excluded.login_attempts,
                    refused_fingerprint = excluded.refused_fingerprint,
                    refused_at = excluded.refused_at""",
                (
                    self.account,
                    state.token,
                    optional_instant_text(state.logged_in_at),
                    attempts,
                    state.refused_fingerprint,
                    optional_instant_text(state.refused_at),
                ),
            )
