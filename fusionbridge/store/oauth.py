"""The ledger's side of `OAuthStore`: the owner's OAuth tokens and any refusal of them."""

from __future__ import annotations

from datetime import datetime

from pydantic import SecretStr

from fusionbridge.clock import Clock
from fusionbridge.fusionsolar.oauth_state import OAuthTokens
from fusionbridge.store.columns import instant, instant_text, optional_instant
from fusionbridge.store.database import Database
from fusionbridge.store.leases import DEFAULT_ACCOUNT


class OAuthRecords:
    """One row of tokens; every write a single committed transaction."""

    def __init__(self, db: Database, clock: Clock, account: str = DEFAULT_ACCOUNT) -> None:
        self._db = db
        self.clock = clock
        self.account = account

    async def load_oauth(self) -> OAuthTokens | None:
        row = await self._db.fetchone(
            """SELECT client_id, access_token, refresh_token, expires_at, scope, obtained_at,
                refused_at, refused_reason
            FROM fusionsolar_oauth WHERE account = ?""",
            (self.account,),
        )
        if row is None:
            return None
        return OAuthTokens(
            client_id=row["client_id"],
            access_token=SecretStr(row["access_token"]),
            refresh_token=SecretStr(row["refresh_token"]),
            expires_at=instant(row["expires_at"]),
            scope=row["scope"],
            obtained_at=instant(row["obtained_at"]),
            refused_at=optional_instant(row["refused_at"]),
            refused_reason=row["refused_reason"],
        )

    async def save_oauth(self, tokens: OAuthTokens) -> None:
        async with self._db.transaction() as tx:
            await tx.execute(
                """INSERT INTO fusionsolar_oauth (account, client_id, access_token, refresh_token,
                    expires_at, scope, obtained_at, refused_at, refused_reason)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT (account) DO UPDATE SET client_id = excluded.client_id,
                    access_token = excluded.access_token, refresh_token = excluded.refresh_token,
                    expires_at = excluded.expires_at, scope = excluded.scope,
                    obtained_at = excluded.obtained_at, refused_at = excluded.refused_at,
                    refused_reason = excluded.refused_reason""",
                (
                    self.account,
                    tokens.client_id,
                    tokens.access_token.get_secret_value(),
                    tokens.refresh_token.get_secret_value(),
                    instant_text(tokens.expires_at),
                    tokens.scope,
                    instant_text(tokens.obtained_at),
                    None if tokens.refused_at is None else instant_text(tokens.refused_at),
                    tokens.refused_reason,
                ),
            )

    async def refuse_oauth(self, refresh_token: SecretStr, at: datetime, reason: str) -> bool:
        # One statement: a process that rotated the token meanwhile is not marked refused.
        async with self._db.transaction() as tx:
            changed = await tx.execute(
                """UPDATE fusionsolar_oauth SET refused_at = ?, refused_reason = ?
                WHERE account = ? AND refresh_token = ?""",
                (instant_text(at), reason, self.account, refresh_token.get_secret_value()),
            )
        return changed == 1
