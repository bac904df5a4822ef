"""The REDEX bearer token: api_key grant, refresh before expiry, one fetch at a time.

A static `access_token` from settings is used as is and never renewed.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from fusionbridge.clock import Clock
from fusionbridge.errors import RedexAuthError, UpstreamError
from fusionbridge.logs import get_logger
from fusionbridge.redex import wire
from fusionbridge.settings import RedexSettings

log = get_logger(__name__)

TokenPost = Callable[[str, str, str], Awaitable[tuple[int, Any]]]
"""Sends a token request: (endpoint name, path, JSON body) → (HTTP status, parsed body)."""


@dataclass(slots=True)
class _Token:
    access: str = field(repr=False)
    refresh: str | None = field(repr=False)
    renew_at: float


class TokenKeeper:
    """Hands out a bearer token that is fresh, renewing it before expiry or after a 401."""

    def __init__(self, settings: RedexSettings, clock: Clock, post: TokenPost) -> None:
        self._settings = settings
        self._clock = clock
        self._post = post
        static = settings.access_token.get_secret_value()
        self._token = _Token(static, None, float("inf")) if static else None
        self._static = bool(static)
        self._lock = asyncio.Lock()

    @property
    def static(self) -> bool:
        return self._static

    def peek(self) -> tuple[str | None, bool]:
        """The token held now, and whether it is still before its renewal time."""
        if self._token is None:
            return None, False
        return self._token.access, self._clock.monotonic() < self._token.renew_at

    async def current(self) -> str:
        """A token not yet due for renewal, fetching one if needed (never two fetches at once)."""
        async with self._lock:
            if self._token is None or self._clock.monotonic() >= self._token.renew_at:
                self._token = await self._renew(self._token)
            return self._token.access

    async def replace(self, rejected: str) -> str:
        """A new token after `rejected` drew a 401, unless a concurrent caller already renewed."""
        if self._static:
            raise RedexAuthError("REDEX refused the configured access_token (HTTP 401)")
        async with self._lock:
            if self._token is None or self._token.access == rejected:
                self._token = await self._renew(self._token)
            return self._token.access

    async def _renew(self, current: _Token | None) -> _Token:
        if current is not None and current.refresh is not None:
            grant = {"RefreshToken": current.refresh, "GrantType": "refresh_token"}
            try:
                token = await self._fetch("token_refresh", wire.REFRESH_PATH, grant)
            except UpstreamError as exc:
                log.warning("redex.token_refresh_failed", error=type(exc).__name__)
            else:
                log.info("redex.token_refreshed")
                return token
        api_key = self._settings.api_key.get_secret_value()
        token = await self._fetch(
            "token", wire.GRANT_PATH, {"ApiKey": api_key, "GrantType": "api_key"}
        )
        log.info("redex.token_granted")
        return token

    async def _fetch(self, endpoint: str, path: str, grant: dict[str, str]) -> _Token:
        body = {
            **grant,
            "ClientId": self._settings.client_id,
            "ClientSecret": self._settings.client_secret.get_secret_value(),
        }
        status, answer = await self._post(endpoint, path, json.dumps(body))
        if not 200 <= status < 300:
            message = wire.message_of(answer, default="credentials refused")
            raise RedexAuthError(f"REDEX refused the {endpoint} request (HTTP {status}): {message}")
        issued = wire.parse_token(answer)
        early = min(300.0, issued.expires_in_s / 10)
        renew_at = self._clock.monotonic() + issued.expires_in_s - early
        return _Token(issued.access_token, issued.refresh_token, renew_at)
