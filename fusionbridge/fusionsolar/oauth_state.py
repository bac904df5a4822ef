"""What OAuth Connect must remember across restarts: the owner's tokens and whether they were refused.

The ledger (`fusionbridge.store.oauth`) implements `OAuthStore`; `MemoryOAuthStore` is the same
contract in memory for tests that do not restart. The refusal lives on the row of the tokens it
refused, so a new `authorize` (which replaces the row) is the only thing that clears it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Protocol, runtime_checkable

from pydantic import SecretStr


@dataclass(frozen=True, slots=True)
class OAuthTokens:
    """One authorization's tokens; the secrets are SecretStr so no repr or log can show them."""

    client_id: str
    access_token: SecretStr = field(repr=False)
    refresh_token: SecretStr = field(repr=False)
    expires_at: datetime
    scope: str
    obtained_at: datetime
    refused_at: datetime | None = None
    refused_reason: str | None = None

    @property
    def refused(self) -> bool:
        return self.refused_at is not None


@runtime_checkable
class OAuthStore(Protocol):
    """Durable home of the OAuth tokens of the FusionSolar account."""

    async def load_oauth(self) -> OAuthTokens | None:
        """The stored tokens, or None before the first `authorize`."""
        ...

    async def save_oauth(self, tokens: OAuthTokens) -> None:
        """Replace the tokens (access and refresh together, one transaction)."""
        ...

    async def refuse_oauth(self, refresh_token: SecretStr, at: datetime, reason: str) -> bool:
        """Mark the tokens refused if `refresh_token` is still the stored one; whether it was."""
        ...


@dataclass
class MemoryOAuthStore:
    """OAuthStore kept in memory: one process, no restart."""

    tokens: OAuthTokens | None = None

    async def load_oauth(self) -> OAuthTokens | None:
        return self.tokens

    async def save_oauth(self, tokens: OAuthTokens) -> None:
        self.tokens = tokens

    async def refuse_oauth(self, refresh_token: SecretStr, at: datetime, reason: str) -> bool:
        current = self.tokens
        if current is None or current.refresh_token != refresh_token:
            return False
        self.tokens = replace(current, refused_at=at, refused_reason=reason)
        return True
