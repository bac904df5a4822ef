"""The REDEX client against the simulator over real HTTP, on a virtual clock: it POSTs the exact
bytes given, repeats them only when REDEX provably did not take them (SPEC §10)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
import structlog
from aiohttp.test_utils import TestServer

from fusionbridge.clock import VirtualClock
from fusionbridge.core.models import round_kwh
from fusionbridge.core.outcomes import Failed, Pending, Rejected, Sent, Unconfirmed
from fusionbridge.core.push_plan import PushItem
from fusionbridge.errors import RedexAuthError
from fusionbridge.redex import wire
from fusionbridge.redex.client import RedexClient, make_session
from fusionbridge.retry import RetryPolicy
from fusionbridge.simulator.redex import API_KEY, CLIENT_SECRET, Fault, RedexSimulator

FAST_RETRY = RetryPolicy(attempts=4, wait_initial_s=0.001, wait_max_s=0.002, wait_jitter_s=0.001)
Connect = Callable[..., Awaitable[RedexClient]]


def item(remote_inv_id: str, year: int = 2025, **months: str | None) -> PushItem:
    numbers = {"jan": 1, "feb": 2, "mar": 3, "apr": 4, "dec": 12}
    kwh = {numbers[k]: round_kwh(Decimal(v)) for k, v in months.items() if v is not None}
    values = (
        tuple(kwh.get(n) for n in range(1, 13)) if months else (Decimal("100.500"),) + (None,) * 11
    )
    return PushItem(remote_inv_id, year, values, ())


async def send(client: RedexClient, *items: PushItem) -> wire.MonthlyAnswer:
    """One monthly-data request carrying `items`, as the push job makes it."""
    answer, _received = await client.post_monthly(wire.encode(items))
    return answer


def process_id(answer: wire.MonthlyAnswer) -> int:
    assert isinstance(answer, Sent), answer
    return answer.process_id


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock(datetime(2025, 3, 3, 7, 0, tzinfo=UTC))


@pytest.fixture
def sim(clock: VirtualClock) -> RedexSimulator:
    simulator = RedexSimulator(clock=clock, rate_limit=5, rate_period_s=5.0, seed=7)
    simulator.register(*(f"INV-{n}" for n in range(1, 61)))
    return simulator


@pytest.fixture
async def connect(
    sim: RedexSimulator, clock: VirtualClock, aiohttp_server: Any
) -> AsyncIterator[Connect]:
    server: TestServer = await aiohttp_server(sim.app)
    base_url = str(server.make_url("")).rstrip("/")
    async with AsyncExitStack() as stack:

        async def make(**overrides: Any) -> RedexClient:
            options = {k: overrides.pop(k) for k in ("limiter", "on_request") if k in overrides}
            settings = sim.settings(base_url, **{"batch_size": 3, "timeout_s": 5.0, **overrides})
            session = await stack.enter_async_context(make_session(settings))
            return RedexClient(session, settings, clock=clock, retry=FAST_RETRY, **options)

        yield make


async def test_post_sends_the_exact_bytes_and_follows_to_success(
    connect: Connect, sim: RedexSimulator
) -> None:
    client = await connect()
    items = [item(f"INV-{n}", jan="10.0005", feb="0.0004", mar=None) for n in range(1, 4)]
    body = wire.encode(items)

    answer, _received = await client.post_monthly(body)

    assert sim.count("token") == 1
    (post,) = [r for r in sim.requests if r.endpoint == "monthly_data"]
    assert post.body == json.loads(body, parse_float=Decimal)
    assert sim.accepted[("INV-2", 2025, 1)] == Decimal("10.001")
    assert sim.accepted[("INV-2", 2025, 2)] == Decimal("0.000")
    assert ("INV-2", 2025, 3) not in sim.accepted
    assert len(sim.accepted) == 6

    statuses = await client.follow([process_id(answer)], wait_s=60)

    assert set(statuses.values()) == {"Success"}
    assert sim.count("statuses") == 2  # New on the first poll, Success on the second
    assert sim.count(status=429) == 0


async def test_422_names_the_refused_items(connect: Connect, sim: RedexSimulator) -> None:
    sim.register("INV-DAILY", frequency="Daily")
    client = await connect()

    answer = await send(client, item("INV-1"), item("INV-DAILY"), item("INV-2"), item("INV-X"))

    assert isinstance(answer, wire.Unprocessable)
    assert answer.item_errors[1] == "must send {Daily} generation data"
    assert "not registered" in answer.item_errors[3]
    assert set(answer.item_errors) == {1, 3}
    assert sim.count("monthly_data") == 1  # the job, not the client, re-sends the rest


async def test_400_rejects_the_request(connect: Connect, sim: RedexSimulator) -> None:
    body = {"Data": None, "Errors": None, "StatusCode": 400, "Message": "Year is invalid"}
    sim.inject("monthly_data", Fault(400, json.dumps(body)))
    client = await connect()

    assert await send(client, item("INV-1")) == Rejected("Year is invalid")
    assert sim.count("monthly_data") == 1


async def test_201_without_a_process_id_fails_and_is_not_repeated(
    connect: Connect, sim: RedexSimulator
) -> None:
    sim.inject("monthly_data", Fault(201, '{"Data": {}, "StatusCode": 201}'))
    client = await connect()

    answer = await send(client, item("INV-1"))

    assert answer == Failed("REDEX answered HTTP 201 without a usable ProcessId")
    assert sim.count("monthly_data") == 1


@pytest.mark.parametrize(
    "header",
    ["7", "Mon, 03 Mar 2025 07:00:07 GMT"],
    ids=["seconds", "http-date"],
)
async def test_429_waits_retry_after(
    connect: Connect, sim: RedexSimulator, clock: VirtualClock, header: str
) -> None:
    client = await connect()
    await client.check_token()
    sim.inject("monthly_data", Fault(429, "{}", headers={"Retry-After": header}))

    assert isinstance(await send(client, item("INV-1")), Sent)
    assert [r.status for r in sim.requests if r.endpoint == "monthly_data"] == [429, 201]
    assert 7.0 in clock.slept


async def test_natural_429_with_http_date_is_waited_out(
    sim: RedexSimulator, connect: Connect
) -> None:
    from fusionbridge.redex.limiter import Window, WindowLimiter

    sim.retry_after = "http-date"
    careless = WindowLimiter(Window(1000, 1.0), clock=sim.clock)
    client = await connect(limiter=careless)

    answers = [await send(client, item(f"INV-{n}")) for n in range(1, 13)]

    assert {type(a) for a in answers} == {Sent}
    assert sim.count(status=429) > 0
    assert sim.count("monthly_data", 201) == 12


async def test_gateway_errors_are_retried_they_provably_took_nothing(
    connect: Connect, sim: RedexSimulator
) -> None:
    sim.inject(
        "monthly_data",
        Fault(503),
        Fault(502, "<html>bad gateway</html>", "text/html"),
        Fault(504),
    )
    client = await connect()

    assert isinstance(await send(client, item("INV-1")), Sent)
    assert [r.status for r in sim.requests if r.endpoint == "monthly_data"] == [503, 502, 504, 201]


async def test_gateway_errors_exhausted_leave_the_items_pending(
    connect: Connect, sim: RedexSimulator
) -> None:
    sim.inject("monthly_data", *[Fault(503)] * FAST_RETRY.attempts)
    client = await connect()

    answer = await send(client, item("INV-1"), item("INV-2"))

    assert isinstance(answer, Pending)
    assert "HTTP 503" in answer.message
    assert sim.count("monthly_data") == FAST_RETRY.attempts


@pytest.mark.parametrize(
    "fault",
    [Fault(500), Fault.slow(1.0), Fault.reset()],
    ids=["500", "timeout", "reset-after-sending"],
)
async def test_a_post_that_may_have_reached_redex_is_never_repeated(
    connect: Connect, sim: RedexSimulator, fault: Fault
) -> None:
    sim.inject("monthly_data", fault)
    seen: list[str] = []
    client = await connect(timeout_s=0.1, on_request=lambda _, outcome: seen.append(outcome))

    answer = await send(client, item("INV-1"))

    assert isinstance(answer, Unconfirmed), answer
    assert sim.count("monthly_data") == 1
    assert len(seen) == 2  # the token, then the one POST


async def test_a_refused_connection_is_retried_it_provably_took_nothing(
    sim: RedexSimulator, clock: VirtualClock, unused_tcp_port: int
) -> None:
    settings = sim.settings(f"http://127.0.0.1:{unused_tcp_port}", timeout_s=5.0)
    seen: list[str] = []
    async with make_session(settings) as session:
        client = RedexClient(
            session,
            settings,
            clock=clock,
            retry=FAST_RETRY,
            on_request=lambda _, outcome: seen.append(outcome),
        )
        answer, _received = await client.post_monthly(wire.encode([item("INV-1")]))

    assert isinstance(answer, Pending)
    assert seen == ["error"] * FAST_RETRY.attempts  # the token endpoint, refused each time


async def test_a_non_json_201_is_failed_not_repeated(connect: Connect, sim: RedexSimulator) -> None:
    sim.inject("monthly_data", Fault(201, "<html>proxy</html>", "text/html"))
    client = await connect()

    assert isinstance(await send(client, item("INV-1")), Failed)
    assert sim.count("monthly_data") == 1


async def test_token_is_refreshed_before_expiry_in_a_long_run(
    connect: Connect, sim: RedexSimulator, clock: VirtualClock
) -> None:
    sim.token_lifetime_s = 12
    client = await connect()
    started = clock.monotonic()

    answers = [await send(client, item(f"INV-{n}")) for n in range(1, 51)]

    assert {type(a) for a in answers} == {Sent}
    assert clock.monotonic() - started > 3 * sim.token_lifetime_s
    assert sim.count("token") == 1
    assert sim.count("token_refresh") >= 3
    assert sim.count(status=401) == 0


async def test_refresh_failure_falls_back_to_a_new_grant(
    connect: Connect, sim: RedexSimulator
) -> None:
    sim.token_lifetime_s = 12
    client = await connect()
    await send(client, item("INV-1"))
    sim.revoke_refresh_tokens()

    answers = [await send(client, item(f"INV-{n}")) for n in range(2, 22)]

    assert {type(a) for a in answers} == {Sent}
    assert sim.count("token_refresh", 400) == 1
    assert sim.count("token") >= 2
    assert sim.count(status=401) == 0


async def test_401_reauthenticates_once(connect: Connect, sim: RedexSimulator) -> None:
    client = await connect()
    await send(client, item("INV-1"))
    sim.expire_tokens()

    assert isinstance(await send(client, item("INV-2")), Sent)
    assert [r.status for r in sim.requests if r.endpoint == "monthly_data"] == [201, 401, 201]
    assert sim.count("token_refresh", 200) == 1


async def test_second_401_is_an_auth_error(connect: Connect, sim: RedexSimulator) -> None:
    sim.inject("monthly_data", Fault(401, "{}"), Fault(401, "{}"))
    client = await connect()

    with pytest.raises(RedexAuthError, match="freshly issued"):
        await send(client, item("INV-1"))
    assert sim.count("monthly_data") == 2


async def test_static_token_is_used_and_a_401_is_final(
    connect: Connect, sim: RedexSimulator
) -> None:
    good = await connect(access_token=sim.issue_token(), client_id="", client_secret="", api_key="")
    assert isinstance(await send(good, item("INV-1")), Sent)

    bad = await connect(access_token="not-a-token", client_id="", client_secret="", api_key="")
    with pytest.raises(RedexAuthError, match="access_token"):
        await send(bad, item("INV-2"))
    assert sim.count("token") == sim.count("token_refresh") == 0


async def test_refused_grant_names_no_secret(connect: Connect, sim: RedexSimulator) -> None:
    client = await connect(api_key="wrong-key")

    with pytest.raises(RedexAuthError) as caught:
        await client.check_token()

    assert "401" in str(caught.value)
    for secret in ("wrong-key", CLIENT_SECRET, API_KEY):
        assert secret not in str(caught.value)


async def test_one_token_fetch_under_concurrency(connect: Connect, sim: RedexSimulator) -> None:
    client = await connect()
    await asyncio.gather(*(send(client, item(f"INV-{n}")) for n in range(1, 11)))

    assert sim.count("token") == 1
    assert sim.count("monthly_data", 201) == 10


async def test_follow_reports_failed_processing(connect: Connect, sim: RedexSimulator) -> None:
    sim.register("INV-BROKEN", fails=True)
    client = await connect()
    pid = process_id(await send(client, item("INV-BROKEN"), item("INV-1")))

    assert await client.follow([pid], wait_s=60) == {pid: "Failed"}
    assert ("INV-1", 2025, 1) not in sim.accepted


async def test_follow_gives_up_after_the_wait(
    connect: Connect, sim: RedexSimulator, clock: VirtualClock
) -> None:
    sim.processing_polls = 1000
    client = await connect()
    pid = process_id(await send(client, item("INV-1")))
    started = clock.monotonic()

    result = await client.follow([pid, 999], wait_s=30)

    assert result == {pid: "Processing", 999: "Unknown"}
    assert clock.monotonic() - started <= 31
    assert 3 <= sim.count("statuses") <= 6  # spacing grows: 2, 4, 8, 16 s


async def test_request_hook_sees_every_exchange(connect: Connect, sim: RedexSimulator) -> None:
    seen: list[tuple[str, str]] = []
    sim.inject("monthly_data", Fault(503))
    client = await connect(on_request=lambda endpoint, outcome: seen.append((endpoint, outcome)))

    await send(client, item("INV-1"))

    assert seen == [("token", "200"), ("monthly_data", "503"), ("monthly_data", "201")]


async def test_logs_carry_no_secret(connect: Connect, sim: RedexSimulator) -> None:
    sim.token_lifetime_s = 12
    client = await connect()
    with structlog.testing.capture_logs() as logs:
        for n in range(1, 8):
            await send(client, item(f"INV-{n}"))
        sim.expire_tokens()
        await send(client, item("INV-9"))

    text = repr(logs) + repr(client.__dict__)
    assert "redex.token_refreshed" in text
    for secret in (CLIENT_SECRET, API_KEY, "sim-access-", "sim-refresh-"):
        assert secret not in text


async def test_token_revoked_mid_run_costs_one_reauth(
    connect: Connect, sim: RedexSimulator
) -> None:
    client = await connect()
    answers = []
    for n in range(1, 5):
        if n == 3:
            sim.expire_tokens()
        answers.append(await send(client, item(f"INV-{n}")))

    assert {type(a) for a in answers} == {Sent}
    statuses = [r.status for r in sim.requests if r.endpoint == "monthly_data"]
    assert statuses == [201, 201, 401, 201, 201]


async def test_unreachable_token_endpoint_leaves_items_pending_without_retry_storm(
    connect: Connect, sim: RedexSimulator
) -> None:
    sim.inject("token", *[Fault(503)] * FAST_RETRY.attempts)
    client = await connect()

    assert isinstance(await send(client, item("INV-1"), item("INV-2")), Pending)
    assert sim.count("token") == FAST_RETRY.attempts
    assert sim.count("monthly_data") == 0
