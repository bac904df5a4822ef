"""OAuth Connect set-up shared by the tests: settings for the simulator's app, the owner's consent."""

from __future__ import annotations

import io
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp

from fusionbridge.cli.authorize import authorize
from fusionbridge.clock import Clock
from fusionbridge.demo.oauth import oauth_keys
from fusionbridge.fusionsolar import oauth_wire
from fusionbridge.settings import Settings

REDIRECT_URI = "http://127.0.0.1:8765/callback"


def oauth_section(oauth_url: str, redirect_uri: str = REDIRECT_URI) -> dict[str, Any]:
    """The [fusionsolar] keys of OAuth mode, pointed at a simulator on loopback."""
    return oauth_keys(oauth_url) | {"redirect_uri": redirect_uri}


async def consent(settings: Settings, state: str = "test-state") -> dict[str, str]:
    """Play the owner's browser: open the authorization address, read where it redirects."""
    url = oauth_wire.authorize_url(settings.fusionsolar_settings(), state)
    async with aiohttp.ClientSession() as http, http.get(url, allow_redirects=False) as answer:
        assert answer.status == 302, await answer.text()
        location = answer.headers["Location"]
    assert location.startswith(settings.fusionsolar_settings().redirect_uri + "?")
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


async def authorized(settings: Settings, clock: Clock) -> None:
    """Tokens in the ledger, as `authorize --code` stores them after the owner approved."""
    code = (await consent(settings))["code"]
    out = io.StringIO()
    assert await authorize(settings, code=code, clock=clock, out=out, err=io.StringIO()) == 0
    assert out.getvalue().startswith("FusionSolar authorization stored")
