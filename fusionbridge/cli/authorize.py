"""`fusionbridge authorize`: the owner approves fusionbridge once; its tokens go into the ledger.

It prints the authorization address with a random `state`, serves exactly one callback on the
`redirect_uri` host and port (for at most ten minutes), checks `state`, exchanges the code and
stores the tokens. `--code` does the exchange alone, for a box without a browser. Any failure
is one line and stores nothing; tokens never reach the output.
"""

from __future__ import annotations

import asyncio
import html
import secrets
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TextIO
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web
from pydantic import SecretStr

from fusionbridge.clock import Clock, SystemClock
from fusionbridge.errors import ConfigError, FusionBridgeError
from fusionbridge.fusionsolar import oauth_wire
from fusionbridge.fusionsolar.client import make_session
from fusionbridge.fusionsolar.oauth import post_form
from fusionbridge.fusionsolar.oauth_state import OAuthTokens
from fusionbridge.logs import get_logger
from fusionbridge.settings import FusionSolarSettings, Settings
from fusionbridge.store import Ledger

log = get_logger(__name__)

CALLBACK_LIMIT_S = 600.0
"""How long the callback is awaited: the owner has ten minutes to approve."""
_PAGE = (
    "<!doctype html><html><head><meta charset='utf-8'><title>fusionbridge</title></head>"
    "<body><h1>{title}</h1><p>{text}</p></body></html>"
)


class AuthorizeFailed(FusionBridgeError):
    """The authorization did not complete; nothing was stored."""


@dataclass(frozen=True)
class Outcome:
    """What the one callback ended in: stored tokens, or the error line."""

    tokens: OAuthTokens | None = None
    error: str | None = None


async def authorize(
    settings: Settings,
    *,
    code: str | None = None,
    clock: Clock | None = None,
    limit_s: float = CALLBACK_LIMIT_S,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    """Obtain and store the owner's tokens; 0 when stored, AuthorizeFailed (exit 1) otherwise."""
    fs = settings.fusionsolar_settings()
    if fs.auth != "oauth":
        raise ConfigError(['fusionsolar.auth: `authorize` needs auth = "oauth"'])
    clock = clock or SystemClock()
    out, err = out or sys.stdout, err or sys.stderr
    async with Ledger.open(settings.storage, clock) as ledger, make_session(fs) as http:
        if code is not None:
            tokens = await exchange(fs, http, SecretStr(code), clock)
        else:
            tokens = await _through_browser(fs, http, clock, limit_s, out, err)
        await ledger.for_account(settings.account).oauth.save_oauth(tokens)
    log.info("fusionsolar.oauth_authorized", scope=tokens.scope)
    print(
        f"FusionSolar authorization stored (scope {tokens.scope}); the access token is valid "
        f"until {tokens.expires_at:%Y-%m-%d %H:%M} UTC and is refreshed automatically",
        file=out,
    )
    return 0


async def exchange(
    fs: FusionSolarSettings, http: aiohttp.ClientSession, code: SecretStr, clock: Clock
) -> OAuthTokens:
    """Trade an authorization code for tokens; AuthorizeFailed naming why not."""
    form = oauth_wire.code_form(fs, code)
    try:
        status, text = await post_form(http, oauth_wire.token_url(fs), form)
        return oauth_wire.parse_token_answer(
            status, text, form, now=clock.now(), client_id=fs.client_id, scope=fs.scope
        )
    except oauth_wire.TokenRefused as exc:
        log.warning("fusionsolar.oauth_code_refused", error=exc.error)
        raise AuthorizeFailed(
            f"FusionSolar refused the authorization code ({exc}): nothing stored; "
            "run fusionbridge authorize again"
        ) from None
    except FusionBridgeError as exc:
        raise AuthorizeFailed(f"FusionSolar token exchange failed: {exc}") from None


def _listen_on(redirect_uri: str) -> tuple[str, int, str]:
    parts = urlsplit(redirect_uri)
    if parts.scheme != "http" or parts.hostname is None:
        raise ConfigError(
            [
                "fusionsolar.redirect_uri: fusionbridge can only serve an http:// callback; "
                "use `authorize --code CODE` with this address"
            ]
        )
    return parts.hostname, parts.port or 80, parts.path or "/"


async def _through_browser(
    fs: FusionSolarSettings,
    http: aiohttp.ClientSession,
    clock: Clock,
    limit_s: float,
    out: TextIO,
    err: TextIO,
) -> OAuthTokens:
    host, port, path = _listen_on(fs.redirect_uri)
    state = secrets.token_urlsafe(24)
    done: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()

    async def callback(request: web.Request) -> web.StreamResponse:
        if done.done():
            return web.Response(status=410, text="this authorization is already finished")
        outcome = await _answer(fs, http, clock, state, request.query)
        title = "Authorized" if outcome.tokens else "Not authorized"
        text = (
            "fusionbridge stored the authorization. You may close this tab."
            if outcome.tokens
            else f"{outcome.error} You may close this tab."
        )
        page = _PAGE.format(title=title, text=html.escape(text))
        response = web.Response(text=page, content_type="text/html")
        await response.prepare(request)
        await response.write_eof()
        if not done.done():
            done.set_result(outcome)
        return response

    app = web.Application()
    app.router.add_get(path, callback)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    try:
        try:
            await web.TCPSite(runner, host, port).start()
        except OSError as exc:
            raise AuthorizeFailed(
                f"cannot listen on {host}:{port} for the callback ({exc.strerror or exc}); "
                "free the port or use `authorize --code CODE`"
            ) from None
        print("Open this address in a browser and approve fusionbridge:", file=err)
        print(oauth_wire.authorize_url(fs, state), file=out, flush=True)
        minutes = limit_s / 60
        print(f"Waiting up to {minutes:g} minutes for the answer on {fs.redirect_uri}", file=err)
        try:
            outcome = await asyncio.wait_for(done, limit_s)
        except TimeoutError:
            raise AuthorizeFailed(
                f"no answer on {fs.redirect_uri} within {minutes:g} minutes: nothing stored"
            ) from None
    finally:
        await runner.cleanup()
    if outcome.tokens is None:
        raise AuthorizeFailed(outcome.error or "the authorization failed: nothing stored")
    return outcome.tokens


async def _answer(
    fs: FusionSolarSettings,
    http: aiohttp.ClientSession,
    clock: Clock,
    state: str,
    query: Mapping[str, str],
) -> Outcome:
    """Judge the one callback: state first, then a denial, then the code's exchange."""
    given_state = query.get("state")
    if given_state is None or not secrets.compare_digest(str(given_state), state):
        return Outcome(
            error="the callback's state does not match this authorize run (a stale or forged "
            "link): nothing stored; run fusionbridge authorize again"
        )
    error = query.get("error")
    if error:
        reason = "the owner denied it" if error == "access_denied" else f"error {error!r}"
        return Outcome(error=f"FusionSolar authorization not granted ({reason}): nothing stored")
    code = query.get("code")
    if not code:
        return Outcome(error="the callback carried no authorization code: nothing stored")
    try:
        return Outcome(tokens=await exchange(fs, http, SecretStr(str(code)), clock))
    except AuthorizeFailed as exc:
        return Outcome(error=str(exc))
