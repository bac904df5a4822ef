"""`demo --oauth`: the simulated plant owner approves fusionbridge, then the demo runs on bearer tokens.

The owner's browser is played in code: it opens the authorization address on the simulator,
which answers with the redirect an approving owner's browser would follow, and its `code` goes
through the same exchange `fusionbridge authorize --code` performs.
"""

from __future__ import annotations

import io
import secrets
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp

from fusionbridge.cli.authorize import AuthorizeFailed, authorize
from fusionbridge.fusionsolar import oauth_wire
from fusionbridge.settings import Settings
from fusionbridge.simulator.fusionsolar_oauth import CLIENT_ID, CLIENT_SECRET

REDIRECT_URI = "http://127.0.0.1:8765/callback"


def oauth_keys(oauth_url: str) -> dict[str, Any]:
    """The [fusionsolar] keys of OAuth mode for the simulator's registered application."""
    return {
        "auth": "oauth",
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "oauth_url": oauth_url,
        "redirect_uri": REDIRECT_URI,
    }


async def owner_approves(settings: Settings) -> str:
    """Authorize as the owner would, store the tokens; the line `authorize` printed."""
    state = secrets.token_urlsafe(16)
    url = oauth_wire.authorize_url(settings.fusionsolar_settings(), state)
    async with aiohttp.ClientSession() as http, http.get(url, allow_redirects=False) as answer:
        location = answer.headers.get("Location", "")
    query = parse_qs(urlsplit(location).query)
    if query.get("state") != [state] or "code" not in query:
        raise AuthorizeFailed("the simulated owner did not approve (no code in the redirect)")
    out = io.StringIO()
    await authorize(settings, code=query["code"][0], out=out, err=io.StringIO())
    return out.getvalue().strip()
