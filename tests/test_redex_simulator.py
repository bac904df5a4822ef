"""The REDEX simulator holds the client to REDEX's rules: strict bodies, tokens, windows, processing."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient

from fusionbridge.clock import VirtualClock
from fusionbridge.redex.wire import GRANT_PATH, MONTHLY_PATH, REFRESH_PATH, STATUS_PATH
from fusionbridge.simulator.redex import API_KEY, CLIENT_ID, CLIENT_SECRET, RedexSimulator

GRANT = {
    "ApiKey": API_KEY,
    "GrantType": "api_key",
    "ClientId": CLIENT_ID,
    "ClientSecret": CLIENT_SECRET,
}
MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]


def entry(remote_inv_id: str = "INV-1", year: Any = 2025, **months: Any) -> dict[str, Any]:
    values = dict.fromkeys(MONTHS) | months
    return {
        "RemoteInvId": remote_inv_id,
        "Data": {"Year": year, "PeriodProductionPerMonthInKWh": values},
    }


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock(datetime(2025, 3, 3, 7, 0, tzinfo=UTC))


@pytest.fixture
def sim(clock: VirtualClock) -> RedexSimulator:
    simulator = RedexSimulator(clock=clock, rate_limit=100, rate_period_s=1.0, phase_s=0.0)
    simulator.register("INV-1", "INV-2")
    return simulator


@pytest.fixture
async def http(sim: RedexSimulator, aiohttp_client: Any) -> TestClient[Any, Any]:
    client: TestClient[Any, Any] = await aiohttp_client(sim.app)
    return client


@pytest.fixture
async def bearer(http: TestClient[Any, Any]) -> dict[str, str]:
    response = await http.post(GRANT_PATH, json=GRANT)
    data = (await response.json())["Data"]
    return {"Authorization": f"Bearer {data['AccessToken']}", "X-Refresh": data["RefreshToken"]}


async def post_monthly(
    http: TestClient[Any, Any], bearer: dict[str, str], body: Any
) -> aiohttp.ClientResponse:
    text = body if isinstance(body, str) else json.dumps(body, default=str)
    headers = {"Authorization": bearer["Authorization"], "Content-Type": "application/json"}
    return await http.post(MONTHLY_PATH, data=text, headers=headers)


def with_month(value: str) -> str:
    """A body whose Jan is the literal JSON text `value` (json.dumps cannot write 1.2345 exactly)."""
    return json.dumps([entry()]).replace('"Jan": null', f'"Jan": {value}')


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ("not json", "JSON array"),
        ({"RemoteInvId": "INV-1"}, "JSON array"),
        ([], "JSON array"),
        ([{"RemoteInvId": "INV-1"}], "exactly the fields RemoteInvId and Data"),
        ([entry(remote_inv_id="")], "RemoteInvId must be a non-empty string"),
        ([entry(year="2025")], "Year must be a year number"),
        ([entry(July=1)], "unknown month key 'July'"),
        (
            [{"RemoteInvId": "INV-1", "Data": {"Year": 2025, "PeriodProductionPerMonthInKWh": {}}}],
            "missing month key",
        ),
        ([entry(Jan="12.5")], "must be a number or null"),
        ([entry(Jan=True)], "must be a number or null"),
        ([entry(Jan=-1)], "must not be negative"),
        (with_month("1.2345"), "restricted to 3 decimal places"),
        ([entry(), entry(Feb=1)], "appears twice for Year 2025"),
    ],
)
async def test_malformed_bodies_get_400(
    http: TestClient[Any, Any],
    bearer: dict[str, str],
    sim: RedexSimulator,
    body: Any,
    fragment: str,
) -> None:
    response = await post_monthly(http, bearer, body)

    assert response.status == 400
    answer = await response.json()
    assert fragment in answer["Message"]
    assert answer["Errors"] is None
    assert sim.accepted == {}


async def test_three_decimals_and_integers_are_fine(
    http: TestClient[Any, Any], bearer: dict[str, str], sim: RedexSimulator
) -> None:
    response = await post_monthly(
        http, bearer, with_month("1.235").replace('"Feb": null', '"Feb": 7')
    )

    assert response.status == 201
    assert sim.accepted == {("INV-1", 2025, 1): Decimal("1.235"), ("INV-1", 2025, 2): Decimal(7)}


async def test_unknown_and_daily_inverters_get_422_with_indexed_keys(
    http: TestClient[Any, Any], bearer: dict[str, str], sim: RedexSimulator
) -> None:
    sim.register("INV-DAILY", frequency="Daily")

    response = await post_monthly(http, bearer, [entry(), entry("INV-DAILY"), entry("INV-9")])

    assert response.status == 422
    answer = await response.json()
    assert answer["StatusCode"] == 422
    assert answer["Errors"] == [
        {
            "Key": "[1].RemoteInvId",
            "Message": "must send {Daily} generation data",
            "Messages": ["must send {Daily} generation data"],
        },
        {
            "Key": "[2].RemoteInvId",
            "Message": "RemoteInvId INV-9 is not registered",
            "Messages": ["RemoteInvId INV-9 is not registered"],
        },
    ]
    assert sim.accepted == {}


async def test_last_write_wins_and_null_leaves_a_month_alone(
    http: TestClient[Any, Any], bearer: dict[str, str], sim: RedexSimulator
) -> None:
    await post_monthly(http, bearer, [entry(Jan=1, Feb=2)])
    await post_monthly(http, bearer, [entry(Jan=3)])

    assert sim.accepted == {("INV-1", 2025, 1): Decimal(3), ("INV-1", 2025, 2): Decimal(2)}


async def test_processing_runs_new_processing_success(
    http: TestClient[Any, Any], bearer: dict[str, str], sim: RedexSimulator
) -> None:
    sim.processing_polls = 2
    process_id = (await (await post_monthly(http, bearer, [entry(Jan=1)])).json())["Data"][
        "ProcessId"
    ]
    seen = []
    for _ in range(4):
        response = await http.get(
            STATUS_PATH,
            params={"ProcessId": str(process_id)},
            headers={"Authorization": bearer["Authorization"]},
        )
        seen.append((await response.json())["Data"]["Status"])

    assert seen == ["New", "Processing", "Success", "Success"]


async def test_flagged_inverters_fail_processing_and_change_nothing(
    http: TestClient[Any, Any], bearer: dict[str, str], sim: RedexSimulator
) -> None:
    sim.processing_polls = 0
    sim.register("INV-BAD", fails=True)
    process_id = (
        await (await post_monthly(http, bearer, [entry(Jan=1), entry("INV-BAD")])).json()
    )["Data"]["ProcessId"]
    response = await http.get(
        STATUS_PATH,
        params={"ProcessId": str(process_id)},
        headers={"Authorization": bearer["Authorization"]},
    )

    assert (await response.json())["Data"]["Status"] == "Failed"
    assert sim.accepted == {}
    unknown = await http.get(
        STATUS_PATH, params={"ProcessId": "1"}, headers={"Authorization": bearer["Authorization"]}
    )
    assert unknown.status == 404


async def test_tokens_expire_and_refresh_rotates(
    http: TestClient[Any, Any], bearer: dict[str, str], sim: RedexSimulator, clock: VirtualClock
) -> None:
    clock.advance(sim.token_lifetime_s)
    assert (await post_monthly(http, bearer, [entry()])).status == 401

    body = {
        "RefreshToken": bearer["X-Refresh"],
        "GrantType": "refresh_token",
        "ClientId": CLIENT_ID,
        "ClientSecret": CLIENT_SECRET,
    }
    fresh = await http.post(REFRESH_PATH, json=body)
    data = (await fresh.json())["Data"]
    assert (fresh.status, data["ExpiresIn"]) == (200, "3600")
    assert (
        await post_monthly(
            http, bearer | {"Authorization": f"Bearer {data['AccessToken']}"}, [entry()]
        )
    ).status == 201
    assert (
        await http.post(REFRESH_PATH, json=body)
    ).status == 400  # the old refresh token is spent


async def test_wrong_credentials_are_refused(http: TestClient[Any, Any]) -> None:
    wrong = copy.deepcopy(GRANT) | {"ApiKey": "nope"}

    assert (await http.post(GRANT_PATH, json=wrong)).status == 401
    assert (await http.post(GRANT_PATH, json=GRANT | {"GrantType": "password"})).status == 400


async def test_fixed_window_answers_429_with_retry_after(
    clock: VirtualClock, aiohttp_client: Any
) -> None:
    sim = RedexSimulator(clock=clock, rate_limit=2, rate_period_s=5.0, phase_s=1.0)
    http: TestClient[Any, Any] = await aiohttp_client(sim.app)
    clock.advance(2.0)  # 1 s into the window [1, 6)

    answers = [await http.post(GRANT_PATH, json=GRANT) for _ in range(3)]

    assert [a.status for a in answers] == [200, 200, 429]
    assert answers[2].headers["Retry-After"] == "4"
    assert await answers[2].json() == {
        "Data": None,
        "Errors": None,
        "StatusCode": 429,
        "Message": "Rate limit exceeded",
        "Meta": None,
    }
    clock.advance(4.0)
    assert (await http.post(GRANT_PATH, json=GRANT)).status == 200

    sim.retry_after = "http-date"
    await http.post(GRANT_PATH, json=GRANT)
    late = await http.post(GRANT_PATH, json=GRANT)
    assert late.headers["Retry-After"] == "Mon, 03 Mar 2025 07:00:11 GMT"


async def test_serve_runs_on_loopback() -> None:
    sim = RedexSimulator()
    async with sim.serve() as base_url, aiohttp.ClientSession() as session:
        assert base_url.startswith("http://127.0.0.1:")
        async with session.post(base_url + GRANT_PATH, json=GRANT) as response:
            assert response.status == 200
    assert sim.count("token", 200) == 1
