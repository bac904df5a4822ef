"""The REDEX client against the REDEX simulator over real HTTP, on a virtual clock."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AsyncExitStack
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
import structlog
from aiohttp.test_utils import TestServer

from fusionbridge.clock import VirtualClock
from fusionbridge.errors import RedexAuthError
from fusionbridge.redex.client import ItemOutcome, RedexClient, RetryPolicy, make_session
from fusionbridge.redex.wire import MonthlyItem
from fusionbridge.simulator.redex import API_KEY, CLIENT_SECRET, Fault, RedexSimulator

FAST_RETRY = RetryPolicy(attempts=4, wait_initial_s=0.001, wait_max_s=0.002, wait_jitter_s=0.001)
Connect = Callable[..., Awaitable[RedexClient]]


def item(remote_inv_id: str, year: int = 2025, **months: str | None) -> MonthlyItem:
    numbers = {"jan": 1, "feb": 2, "mar": 3, "apr": 4, "dec": 12}
    kwh = {numbers[k]: None if v is None else Decimal(v) for k, v in months.items()}
    return MonthlyItem(remote_inv_id, year, kwh or {1: Decimal("100.5")})


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


async def test_submit_batches_and_follows_to_success(connect: Connect, sim: RedexSimulator) -> None:
    client = await connect()
    items = [item(f"INV-{n}", jan="10.0005", feb="0.0004", mar=None) for n in range(1, 8)]

    outcomes = await client.submit(items)

    assert [o.item for o in outcomes] == items
    assert {o.status for o in outcomes} == {"sent"}
    process_ids = [o.process_id for o in outcomes]
    assert len(set(process_ids)) == 3  # 7 items in batches of 3
    assert sim.count("token") == 1
    assert sim.count("monthly_data") == 3
    assert sim.accepted[("INV-4", 2025, 1)] == Decimal("10.001")
    assert sim.accepted[("INV-4", 2025, 2)] == Decimal("0.000")
    assert ("INV-4", 2025, 3) not in sim.accepted
    assert len(sim.accepted) == 14

    statuses = await client.follow({p for p in process_ids if p is not None}, wait_s=60)

    assert set(statuses.values()) == {"Success"}
    assert sim.count("statuses") == 6  # New on the first poll, Success on the second
    assert sim.count(status=429) == 0


async def test_hooks_bracket_every_request(connect: Connect, sim: RedexSimulator) -> None:
    client = await connect()
    events: list[tuple[str, int, int]] = []

    async def before(batch: Sequence[MonthlyItem]) -> None:
        events.append(("before", len(batch), sim.count("monthly_data")))

    async def after(done: Sequence[ItemOutcome]) -> None:
        events.append(("after", len(done), sim.count("monthly_data")))

    await client.submit(
        [item(f"INV-{n}") for n in range(1, 6)], before_send=before, after_send=after
    )

    assert events == [("before", 3, 0), ("after", 3, 1), ("before", 2, 1), ("after", 2, 2)]


async def test_422_rejects_named_items_and_resends_the_rest(
    connect: Connect, sim: RedexSimulator
) -> None:
    sim.register("INV-DAILY", frequency="Daily")
    client = await connect(batch_size=10)
    items = [item("INV-1"), item("INV-DAILY"), item("INV-2"), item("INV-UNKNOWN")]

    outcomes = await client.submit(items)

    by_id = {o.item.remote_inv_id: o for o in outcomes}
    assert by_id["INV-DAILY"].status == "rejected"
    assert by_id["INV-DAILY"].message == "must send {Daily} generation data"
    assert by_id["INV-UNKNOWN"].status == "rejected"
    assert "not registered" in (by_id["INV-UNKNOWN"].message or "")
    assert by_id["INV-1"].status == by_id["INV-2"].status == "sent"
    assert by_id["INV-1"].process_id == by_id["INV-2"].process_id is not None
    posts = [r for r in sim.requests if r.endpoint == "monthly_data"]
    assert [r.status for r in posts] == [422, 201]
    assert [entry["RemoteInvId"] for entry in posts[1].body] == ["INV-1", "INV-2"]


async def test_422_with_a_deeper_key_rejects_that_item(
    connect: Connect, sim: RedexSimulator
) -> None:
    error = {
        "Key": "[1].Data.PeriodProductionPerMonthInKWh.Jan",
        "Message": None,
        "Messages": ["Jan exceeds the inverter's capacity"],
    }
    body = {"Data": None, "Errors": [error], "StatusCode": 422, "Message": "Validation failed"}
    sim.inject("monthly_data", Fault(422, json.dumps(body)))
    client = await connect()

    outcomes = await client.submit([item("INV-1"), item("INV-2"), item("INV-3")])

    assert [o.status for o in outcomes] == ["sent", "rejected", "sent"]
    assert outcomes[1].message == "Jan exceeds the inverter's capacity"


async def test_422_naming_no_item_fails_the_batch(connect: Connect, sim: RedexSimulator) -> None:
    body = {"Errors": [{"Key": "Body", "Message": "bad"}], "StatusCode": 422, "Message": "Nope"}
    sim.inject("monthly_data", Fault(422, json.dumps(body)))
    client = await connect()

    outcomes = await client.submit([item("INV-1"), item("INV-2")])

    assert [(o.status, o.message) for o in outcomes] == [("failed", "Nope"), ("failed", "Nope")]
    assert sim.count("monthly_data") == 1


async def test_400_fails_its_batch_only(connect: Connect, sim: RedexSimulator) -> None:
    body = {"Data": None, "Errors": None, "StatusCode": 400, "Message": "Year is invalid"}
    sim.inject("monthly_data", Fault(400, json.dumps(body)))
    client = await connect()

    outcomes = await client.submit([item(f"INV-{n}") for n in range(1, 6)])

    assert [o.status for o in outcomes] == ["failed"] * 3 + ["sent"] * 2
    assert outcomes[0].message == "Year is invalid"


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

    outcomes = await client.submit([item("INV-1")])

    assert outcomes[0].status == "sent"
    assert [r.status for r in sim.requests if r.endpoint == "monthly_data"] == [429, 201]
    assert 7.0 in clock.slept


async def test_natural_429_with_http_date_is_waited_out(
    sim: RedexSimulator, connect: Connect
) -> None:
    from fusionbridge.redex.limiter import Window, WindowLimiter

    sim.retry_after = "http-date"
    careless = WindowLimiter(Window(1000, 1.0), clock=sim.clock)
    client = await connect(limiter=careless, batch_size=1)

    outcomes = await client.submit([item(f"INV-{n}") for n in range(1, 13)])

    assert {o.status for o in outcomes} == {"sent"}
    assert sim.count(status=429) > 0
    assert sim.count("monthly_data", 201) == 12


async def test_5xx_then_success(connect: Connect, sim: RedexSimulator) -> None:
    sim.inject("monthly_data", Fault(503), Fault(502, "<html>bad gateway</html>", "text/html"))
    client = await connect()

    outcomes = await client.submit([item("INV-1")])

    assert outcomes[0].status == "sent"
    assert [r.status for r in sim.requests if r.endpoint == "monthly_data"] == [503, 502, 201]


async def test_5xx_exhausted_leaves_items_pending_and_stops(
    connect: Connect, sim: RedexSimulator
) -> None:
    sim.inject("monthly_data", *[Fault(500)] * FAST_RETRY.attempts)
    client = await connect()
    seen: list[Sequence[ItemOutcome]] = []

    async def after(done: Sequence[ItemOutcome]) -> None:
        seen.append(done)

    outcomes = await client.submit([item(f"INV-{n}") for n in range(1, 8)], after_send=after)

    assert [o.status for o in outcomes] == ["pending"] * 7
    assert sim.count("monthly_data") == FAST_RETRY.attempts  # later batches were not tried
    assert [len(done) for done in seen] == [3]
    assert "HTTP 500" in (outcomes[0].message or "")


async def test_timeout_reset_and_non_json_are_retried(
    connect: Connect, sim: RedexSimulator
) -> None:
    sim.inject(
        "monthly_data",
        Fault.slow(1.0),
        Fault.reset(),
        Fault(201, "<html>proxy</html>", "text/html"),
    )
    seen: list[str] = []
    client = await connect(timeout_s=0.1, on_request=lambda _, outcome: seen.append(outcome))

    outcomes = await client.submit([item("INV-1")])

    assert outcomes[0].status == "sent"
    assert seen == ["200", "timeout", "error", "201", "201"]
    assert sim.count("monthly_data") == 4


async def test_token_is_refreshed_before_expiry_in_a_long_run(
    connect: Connect, sim: RedexSimulator, clock: VirtualClock
) -> None:
    sim.token_lifetime_s = 12
    client = await connect(batch_size=1)
    started = clock.monotonic()

    outcomes = await client.submit([item(f"INV-{n}") for n in range(1, 51)])

    assert {o.status for o in outcomes} == {"sent"}
    assert clock.monotonic() - started > 3 * sim.token_lifetime_s
    assert sim.count("token") == 1
    assert sim.count("token_refresh") >= 3
    assert sim.count(status=401) == 0


async def test_refresh_failure_falls_back_to_a_new_grant(
    connect: Connect, sim: RedexSimulator
) -> None:
    sim.token_lifetime_s = 12
    client = await connect(batch_size=1)
    await client.submit([item("INV-1")])
    sim.revoke_refresh_tokens()

    outcomes = await client.submit([item(f"INV-{n}") for n in range(2, 22)])

    assert {o.status for o in outcomes} == {"sent"}
    assert sim.count("token_refresh", 400) == 1
    assert sim.count("token") >= 2
    assert sim.count(status=401) == 0


async def test_401_reauthenticates_once(connect: Connect, sim: RedexSimulator) -> None:
    client = await connect()
    await client.submit([item("INV-1")])
    sim.expire_tokens()

    outcomes = await client.submit([item("INV-2")])

    assert outcomes[0].status == "sent"
    assert [r.status for r in sim.requests if r.endpoint == "monthly_data"] == [201, 401, 201]
    assert sim.count("token_refresh", 200) == 1


async def test_second_401_is_an_auth_error(connect: Connect, sim: RedexSimulator) -> None:
    sim.inject("monthly_data", Fault(401, "{}"), Fault(401, "{}"))
    client = await connect()

    with pytest.raises(RedexAuthError, match="freshly issued"):
        await client.submit([item("INV-1")])
    assert sim.count("monthly_data") == 2


async def test_static_token_is_used_and_a_401_is_final(
    connect: Connect, sim: RedexSimulator
) -> None:
    good = await connect(access_token=sim.issue_token(), client_id="", client_secret="", api_key="")
    assert (await good.submit([item("INV-1")]))[0].status == "sent"

    bad = await connect(access_token="not-a-token", client_id="", client_secret="", api_key="")
    with pytest.raises(RedexAuthError, match="access_token"):
        await bad.submit([item("INV-2")])
    assert sim.count("token") == sim.count("token_refresh") == 0


async def test_refused_grant_names_no_secret(connect: Connect, sim: RedexSimulator) -> None:
    client = await connect(api_key="wrong-key")

    with pytest.raises(RedexAuthError) as caught:
        await client.check_token()

    assert "401" in str(caught.value)
    for secret in ("wrong-key", CLIENT_SECRET, API_KEY):
        assert secret not in str(caught.value)


async def test_one_token_fetch_under_concurrency(connect: Connect, sim: RedexSimulator) -> None:
    client = await connect(batch_size=1)
    await asyncio.gather(*(client.submit([item(f"INV-{n}")]) for n in range(1, 11)))

    assert sim.count("token") == 1
    assert sim.count("monthly_data", 201) == 10


async def test_follow_reports_failed_processing(connect: Connect, sim: RedexSimulator) -> None:
    sim.register("INV-BROKEN", fails=True)
    client = await connect()
    outcomes = await client.submit([item("INV-BROKEN"), item("INV-1")])
    (process_id,) = {o.process_id for o in outcomes}
    assert process_id is not None

    assert await client.follow([process_id], wait_s=60) == {process_id: "Failed"}
    assert ("INV-1", 2025, 1) not in sim.accepted


async def test_follow_gives_up_after_the_wait(
    connect: Connect, sim: RedexSimulator, clock: VirtualClock
) -> None:
    sim.processing_polls = 1000
    client = await connect()
    outcomes = await client.submit([item("INV-1")])
    process_id = outcomes[0].process_id
    assert process_id is not None
    started = clock.monotonic()

    result = await client.follow([process_id, 999], wait_s=30)

    assert result == {process_id: "Processing", 999: "Unknown"}
    assert clock.monotonic() - started <= 31
    assert 3 <= sim.count("statuses") <= 6  # spacing grows: 2, 4, 8, 16 s


async def test_request_hook_sees_every_exchange(connect: Connect, sim: RedexSimulator) -> None:
    seen: list[tuple[str, str]] = []
    sim.inject("monthly_data", Fault(503))
    client = await connect(on_request=lambda endpoint, outcome: seen.append((endpoint, outcome)))

    await client.submit([item("INV-1")])

    assert seen == [("token", "200"), ("monthly_data", "503"), ("monthly_data", "201")]


async def test_logs_carry_no_secret(connect: Connect, sim: RedexSimulator) -> None:
    sim.token_lifetime_s = 12
    client = await connect(batch_size=1)
    with structlog.testing.capture_logs() as logs:
        await client.submit([item(f"INV-{n}") for n in range(1, 8)])
        sim.expire_tokens()
        await client.submit([item("INV-9")])

    text = repr(logs) + repr(client.__dict__)
    assert "redex.token_refreshed" in text
    for secret in (CLIENT_SECRET, API_KEY, "sim-access-", "sim-refresh-"):
        assert secret not in text


async def test_duplicate_items_are_refused_before_sending(
    connect: Connect, sim: RedexSimulator
) -> None:
    client = await connect()

    with pytest.raises(ValueError, match="twice"):
        await client.submit([item("INV-1"), item("INV-2"), item("INV-1")])
    assert sim.requests == []


async def test_token_revoked_mid_run_costs_one_reauth(
    connect: Connect, sim: RedexSimulator
) -> None:
    client = await connect(batch_size=2)
    sent_batches = 0

    async def before(batch: Sequence[MonthlyItem]) -> None:
        nonlocal sent_batches
        sent_batches += 1
        if sent_batches == 3:
            sim.expire_tokens()

    outcomes = await client.submit([item(f"INV-{n}") for n in range(1, 9)], before_send=before)

    assert {o.status for o in outcomes} == {"sent"}
    statuses = [r.status for r in sim.requests if r.endpoint == "monthly_data"]
    assert statuses == [201, 201, 401, 201, 201]


async def test_unreachable_token_endpoint_leaves_items_pending_without_retry_storm(
    connect: Connect, sim: RedexSimulator
) -> None:
    sim.inject("token", *[Fault(503)] * FAST_RETRY.attempts)
    client = await connect()

    outcomes = await client.submit([item(f"INV-{n}") for n in range(1, 8)])

    assert {o.status for o in outcomes} == {"pending"}
    assert sim.count("token") == FAST_RETRY.attempts
    assert sim.count("monthly_data") == 0
