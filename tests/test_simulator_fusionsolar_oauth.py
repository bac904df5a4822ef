"""The simulator's OAuth endpoints answer as the tests and the demo rely on, over real HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import aiohttp
import pytest

from fusionbridge.clock import VirtualClock
from fusionbridge.simulator.fusionsolar import FusionSolarSimulator, SimulatorConfig
from fusionbridge.simulator.fusionsolar_oauth import (
    AUTHORIZE_PATH,
    CLIENT_ID,
    CLIENT_SECRET,
    GRANT_PATH,
    OAuthSimConfig,
)

REDIRECT = "http://127.0.0.1:9/cb"
NOW = datetime(2026, 2, 10, 12, 0, tzinfo=UTC)


class Owner:
    """A browser and a token client against one simulator."""

    def __init__(self, sim: FusionSolarSimulator, base: str, http: aiohttp.ClientSession) -> None:
        self.sim, self.base, self.http = sim, base, http

    async def consent(self, **overrides: str) -> tuple[int, dict[str, str]]:
        query = {
            "response_type": "code",
            "client_id": CLIENT_ID,
            "redirect_uri": REDIRECT,
            "scope": "pvms.openapi.basic",
            "state": "s-1",
        } | overrides
        url = f"{self.base}{AUTHORIZE_PATH}?{urlencode(query)}"
        async with self.http.get(url, allow_redirects=False) as answer:
            location = answer.headers.get("Location", "")
            params = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
            return answer.status, params

    async def grant(self, **form: str) -> tuple[int, dict[str, Any]]:
        body = {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET} | form
        async with self.http.post(self.base + GRANT_PATH, data=body) as answer:
            return answer.status, await answer.json()

    async def data(self, token: str) -> tuple[int, str]:
        headers = {"Authorization": f"Bearer {token}"}
        body = {"pageNo": 1, "pageSize": 100}
        async with self.http.post(
            f"{self.base}/thirdData/stations", json=body, headers=headers
        ) as answer:
            return answer.status, await answer.text()


@pytest.fixture
async def owner() -> AsyncIterator[Owner]:
    clock = VirtualClock(NOW)
    sim = FusionSolarSimulator(
        SimulatorConfig(clock=clock, oauth=OAuthSimConfig(redirect_uri=REDIRECT))
    )
    async with sim.serve() as base, aiohttp.ClientSession() as http:
        yield Owner(sim, base, http)


async def test_code_grant_refresh_rotation_and_revocation(owner: Owner) -> None:
    status, params = await owner.consent()
    assert status == 302
    assert params["state"] == "s-1"
    status, tokens = await owner.grant(
        grant_type="authorization_code", code=params["code"], redirect_uri=REDIRECT
    )
    assert status == 200
    assert tokens["token_type"] == "Bearer"
    assert tokens["expires_in"] == 3600
    assert (await owner.data(tokens["access_token"]))[0] == 200
    status, again = await owner.grant(
        grant_type="authorization_code", code=params["code"], redirect_uri=REDIRECT
    )
    assert (status, again["error"]) == (400, "invalid_grant")  # a code is single-use

    status, fresh = await owner.grant(
        grant_type="refresh_token", refresh_token=tokens["refresh_token"]
    )
    assert status == 200
    assert fresh["refresh_token"] != tokens["refresh_token"]
    status, old = await owner.grant(
        grant_type="refresh_token", refresh_token=tokens["refresh_token"]
    )
    assert (status, old["error"]) == (400, "invalid_grant")  # rotated away

    owner.sim.oauth.revoke()
    assert (await owner.data(fresh["access_token"]))[0] == 401
    status, revoked = await owner.grant(
        grant_type="refresh_token", refresh_token=fresh["refresh_token"]
    )
    assert (status, revoked["error"]) == (400, "invalid_grant")
    assert owner.sim.count("login") == 0
    assert [g.status for g in owner.sim.oauth.grants] == [200, 400, 200, 400, 400]


async def test_refusals_of_the_consent_page_and_the_token_endpoint(owner: Owner) -> None:
    assert (await owner.consent(redirect_uri="http://elsewhere/cb"))[0] == 400
    assert (await owner.consent(client_id="stranger"))[0] == 400
    owner.sim.oauth.config.deny = True
    status, params = await owner.consent()
    assert status == 302
    assert params == {
        "error": "access_denied",
        "error_description": "the owner said no",
        "state": "s-1",
    }
    status, body = await owner.grant(grant_type="password", client_secret="wrong")
    assert (status, body["error"]) == (401, "invalid_client")
    status, body = await owner.grant(grant_type="password")
    assert (status, body["error"]) == (400, "unsupported_grant_type")


async def test_an_expired_bearer_answers_305_when_configured(owner: Owner) -> None:
    owner.sim.oauth.config.refused_bearer = 305
    _, params = await owner.consent()
    _, tokens = await owner.grant(
        grant_type="authorization_code", code=params["code"], redirect_uri=REDIRECT
    )
    owner.sim.oauth.expire_access()
    status, text = await owner.data(tokens["access_token"])
    assert status == 200
    assert '"failCode": 305' in text
    assert owner.sim.oauth.refused_bearers == 1
