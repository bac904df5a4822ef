"""OAuth Connect for the FusionSolar simulator: the owner's consent page, the token endpoint, bearers.

`authorize` plays an owner who is already logged in: it answers with a redirect to the
registered `redirect_uri` carrying `code` and `state` (or `error=access_denied` when the owner
is set to deny). The token endpoint serves the `authorization_code` and `refresh_token` grants
with a configurable lifetime, rotates refresh tokens when asked to, and refuses every token
once `revoke()` is called, as an owner withdrawing the authorization would.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal
from urllib.parse import urlencode

from aiohttp import web

from fusionbridge.clock import Clock
from fusionbridge.simulator.fusionsolar_endpoints import SimError

AUTHORIZE_PATH = "/rest/dp/uidm/oauth2/v1/authorize"
GRANT_PATH = "/rest/dp/uidm/oauth2/v1/token"
CLIENT_ID = "sim-oauth-client"
CLIENT_SECRET = "sim-oauth-client-secret"
ACCESS_PREFIX, REFRESH_PREFIX, CODE_PREFIX = "fs-access-", "fs-refresh-", "fs-code-"
"""Every token the simulator issues starts with one of these, so tests can grep for them."""


@dataclass
class OAuthSimConfig:
    """The registered application and how the owner and the token endpoint behave."""

    client_id: str = CLIENT_ID
    client_secret: str = CLIENT_SECRET
    redirect_uri: str | None = None
    """The registered address; None accepts whatever the client sends."""
    scope: str = "pvms.openapi.basic"
    access_lifetime_s: float = 3600.0
    code_lifetime_s: float = 300.0
    rotate_refresh: bool = True
    """Issue a new refresh token on each refresh (the old one stops working); else return none."""
    deny: bool = False
    refused_bearer: Literal[305, 401] = 401
    """How a data call with an expired or unknown bearer is answered: failCode 305 or HTTP 401."""


@dataclass(frozen=True, slots=True)
class GrantRequest:
    """One request the token endpoint received and the status it answered."""

    grant_type: str
    at: datetime
    status: int


@dataclass(frozen=True, slots=True)
class _Code:
    redirect_uri: str
    issued: datetime


class SimOAuth:
    """State of the simulated authorization server; `register` adds its routes to an app."""

    def __init__(self, config: OAuthSimConfig, clock: Clock) -> None:
        self.config = config
        self.clock = clock
        self.grants: list[GrantRequest] = []
        self.refused_bearers = 0
        """Data calls refused for an expired or unknown bearer token."""
        self.issued: list[str] = []
        """Every code and token ever handed out, for tests that grep outputs for them."""
        self._codes: dict[str, _Code] = {}
        self._access: dict[str, datetime] = {}
        self._refresh: set[str] = set()

    def register(self, app: web.Application) -> None:
        app.router.add_get(AUTHORIZE_PATH, self._authorize)
        app.router.add_post(GRANT_PATH, self._grant)

    # --- control and inspection ---------------------------------------------------------------

    def revoke(self) -> None:
        """The owner withdraws the authorization: every access and refresh token stops working."""
        self._access.clear()
        self._refresh.clear()

    def expire_access(self) -> None:
        """Every access token expires now (refresh tokens keep working)."""
        now = self.clock.now()
        self._access = dict.fromkeys(self._access, now)

    def count(self, grant_type: str | None = None) -> int:
        """Token requests received (of one grant type, or all)."""
        return sum(1 for g in self.grants if grant_type is None or g.grant_type == grant_type)

    def admit(self, authorization: str, now: datetime) -> None:
        """Let a data call through if its bearer token lives; else answer as configured."""
        scheme, _, token = authorization.partition(" ")
        expires = self._access.get(token) if scheme.lower() == "bearer" else None
        if expires is None or now >= expires:
            self.refused_bearers += 1
            if self.config.refused_bearer == 305:
                raise SimError(305)
            raise web.HTTPUnauthorized(text='{"error": "invalid_token"}')

    # --- HTTP ---------------------------------------------------------------------------------

    async def _authorize(self, request: web.Request) -> web.StreamResponse:
        query = request.query
        config = self.config
        redirect_uri = query.get("redirect_uri", "")
        if query.get("client_id") != config.client_id:
            return web.Response(status=400, text="unknown client_id")
        if not redirect_uri or (config.redirect_uri and redirect_uri != config.redirect_uri):
            return web.Response(status=400, text="redirect_uri is not registered")
        if query.get("response_type") != "code":
            return web.Response(status=400, text="response_type must be code")
        answer: dict[str, str]
        if config.deny:
            answer = {"error": "access_denied", "error_description": "the owner said no"}
        else:
            code = CODE_PREFIX + secrets.token_hex(16)
            self.issued.append(code)
            self._codes[code] = _Code(redirect_uri, self.clock.now())
            answer = {"code": code}
        if "state" in query:
            answer["state"] = query["state"]
        raise web.HTTPFound(f"{redirect_uri}?{urlencode(answer)}")

    async def _grant(self, request: web.Request) -> web.StreamResponse:
        form = await request.post()
        grant_type = str(form.get("grant_type", ""))
        now = self.clock.now()
        answer = self._answer_grant(grant_type, {k: str(v) for k, v in form.items()}, now)
        self.grants.append(GrantRequest(grant_type, now, answer.status))
        return answer

    def _answer_grant(self, grant_type: str, form: dict[str, str], now: datetime) -> web.Response:
        config = self.config
        if form.get("client_id") != config.client_id:
            return _error(401, "invalid_client", "unknown client")
        if form.get("client_secret") != config.client_secret:
            return _error(401, "invalid_client", "client authentication failed")
        if grant_type == "authorization_code":
            code = self._codes.pop(form.get("code", ""), None)
            lifetime = timedelta(seconds=config.code_lifetime_s)
            if code is None or now - code.issued >= lifetime:
                return _error(400, "invalid_grant", "authorization code unknown, used or expired")
            if form.get("redirect_uri") != code.redirect_uri:
                return _error(400, "invalid_grant", "redirect_uri does not match")
            return self._issue(now, refresh=None)
        if grant_type == "refresh_token":
            refresh = form.get("refresh_token", "")
            if refresh not in self._refresh:
                return _error(400, "invalid_grant", "refresh token revoked or unknown")
            return self._issue(now, refresh=refresh)
        return _error(400, "unsupported_grant_type", "")

    def _issue(self, now: datetime, refresh: str | None) -> web.Response:
        config = self.config
        access = ACCESS_PREFIX + secrets.token_hex(16)
        self._access[access] = now + timedelta(seconds=config.access_lifetime_s)
        body: dict[str, object] = {
            "access_token": access,
            "expires_in": int(config.access_lifetime_s),
            "scope": config.scope,
            "token_type": "Bearer",
        }
        self.issued.append(access)
        if refresh is None or config.rotate_refresh:
            if refresh is not None:
                self._refresh.discard(refresh)
            new = REFRESH_PREFIX + secrets.token_hex(16)
            self._refresh.add(new)
            self.issued.append(new)
            body["refresh_token"] = new
        return web.json_response(body)


def _error(status: int, error: str, description: str) -> web.Response:
    return web.json_response({"error": error, "error_description": description}, status=status)
