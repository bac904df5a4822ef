"""OAuth Connect as the client's credential source: bearer headers, refreshed early, refused once.

The access token is refreshed when under a minute of its life remains, one refresh at a time.
A rotated refresh token is saved with its access token in one transaction. A refresh the token
endpoint refuses means the owner's authorization is gone: that refusal is written on the tokens'
row, and from then on every call fails at once, without a request, until `authorize` stores
new tokens, so no schedule and no restart can turn it into a loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from datetime import timedelta

import aiohttp

from fusionbridge.clock import Clock
from fusionbridge.errors import FusionSolarAuthorizationError, TransientError
from fusionbridge.fusionsolar import oauth_wire
from fusionbridge.fusionsolar.oauth_state import OAuthStore, OAuthTokens
from fusionbridge.logs import get_logger
from fusionbridge.retry import RetryPolicy
from fusionbridge.settings import FusionSolarSettings

log = get_logger(__name__)

REFRESH_MARGIN = timedelta(seconds=60)
"""Refresh when less than this is left at the moment the request leaves (after pacing)."""
AUTHORIZATION_HEADER = "Authorization"
REVOKED = "FusionSolar authorization expired or revoked: run fusionbridge authorize"
NOT_AUTHORIZED = "FusionSolar is not authorized yet: run fusionbridge authorize"
GRANT_METRIC = "oauth_token"
"""The name token requests carry in metrics."""


async def post_form(
    http: aiohttp.ClientSession, url: str, form: oauth_wire.Form
) -> tuple[int, str]:
    """POST a form-encoded token request; transport failures become TransientError."""
    try:
        async with http.post(url, data=dict(form.fields)) as response:
            return response.status, (await response.read()).decode("utf-8", errors="replace")
    except (aiohttp.ClientError, TimeoutError) as exc:
        reason = str(exc) or type(exc).__name__
        raise TransientError(f"cannot reach the FusionSolar token endpoint ({reason})") from exc


def unusable(tokens: OAuthTokens | None, settings: FusionSolarSettings) -> str | None:
    """Why these stored tokens cannot be used without a new `authorize`; None if they can."""
    if tokens is None:
        return NOT_AUTHORIZED
    if tokens.refused:
        return REVOKED
    if tokens.client_id != settings.client_id:
        return (
            f"the stored FusionSolar authorization belongs to client_id {tokens.client_id!r}, "
            f"not {settings.client_id!r}: run fusionbridge authorize"
        )
    return None


async def authorization_problem(settings: FusionSolarSettings, store: OAuthStore) -> str | None:
    """The `fusionsolar_authorization` readiness check: why OAuth cannot work now, if it cannot."""
    if settings.auth != "oauth":
        return None
    return unusable(await store.load_oauth(), settings)


def bearer(tokens: OAuthTokens) -> dict[str, str]:
    return {AUTHORIZATION_HEADER: f"Bearer {tokens.access_token.get_secret_value()}"}


class OAuthSession:
    """Hands out a live bearer header; refreshes it when due or when a data call refused it."""

    def __init__(
        self,
        store: OAuthStore,
        clock: Clock,
        *,
        settings: FusionSolarSettings,
        http: aiohttp.ClientSession,
        notify: Callable[[str, str], None],
        retry: RetryPolicy,
    ) -> None:
        self._store = store
        self._clock = clock
        self._settings = settings
        self._http = http
        self._notify = notify
        self._retry = retry
        self._lock = asyncio.Lock()
        # The header is taken before the pacing wait (up to one interval) in front of the call.
        self._margin = REFRESH_MARGIN + timedelta(seconds=settings.min_interval_s)

    async def headers(self, stale: Mapping[str, str] | None = None) -> dict[str, str]:
        """The bearer header; a refresh first if under a minute remains or `stale` was refused."""
        async with self._lock:
            # Across processes the account lease (SPEC §14) will wrap this block.
            tokens = await self._usable()
            refused_header = (stale or {}).get(AUTHORIZATION_HEADER)
            due = tokens.expires_at - self._clock.now() < self._margin
            if due or refused_header == bearer(tokens)[AUTHORIZATION_HEADER]:
                tokens = await self._refresh(tokens)
            return bearer(tokens)

    async def _usable(self) -> OAuthTokens:
        """The stored tokens, unless there are none, they were refused, or belong elsewhere."""
        tokens = await self._store.load_oauth()
        problem = unusable(tokens, self._settings)
        if problem is not None or tokens is None:
            raise FusionSolarAuthorizationError(problem or NOT_AUTHORIZED)
        return tokens

    async def _refresh(self, tokens: OAuthTokens) -> OAuthTokens:
        async for attempt in self._retry.transient():
            with attempt:
                return await self._refresh_once(tokens)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _refresh_once(self, tokens: OAuthTokens) -> OAuthTokens:
        form = oauth_wire.refresh_form(self._settings, tokens.refresh_token)
        status, text = await post_form(self._http, oauth_wire.token_url(self._settings), form)
        try:
            fresh = oauth_wire.parse_token_answer(
                status,
                text,
                form,
                now=self._clock.now(),
                client_id=self._settings.client_id,
                scope=tokens.scope,
                previous_refresh=tokens.refresh_token,
            )
        except oauth_wire.TokenRefused as exc:
            self._notify(GRANT_METRIC, "refused")
            return await self._refused(tokens, exc)
        except TransientError:
            self._notify(GRANT_METRIC, "transient")
            raise
        self._notify(GRANT_METRIC, "ok")
        await self._store.save_oauth(fresh)
        log.info(
            "fusionsolar.oauth_refreshed",
            expires_at=fresh.expires_at.isoformat(),
            rotated=fresh.refresh_token != tokens.refresh_token,
        )
        return fresh

    async def _refused(self, tokens: OAuthTokens, exc: oauth_wire.TokenRefused) -> OAuthTokens:
        """Remember the refusal on these tokens, unless another process has rotated them since."""
        if not await self._store.refuse_oauth(tokens.refresh_token, self._clock.now(), exc.error):
            newer = await self._store.load_oauth()
            if newer is not None and not newer.refused:
                log.info("fusionsolar.oauth_rotated_elsewhere")
                return newer
        log.error("fusionsolar.oauth_refused", error=exc.error, description=exc.description)
        raise FusionSolarAuthorizationError(REVOKED) from None
