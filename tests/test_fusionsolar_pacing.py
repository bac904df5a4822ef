"""Pacing, rate limits and retries against the simulator, driven by a VirtualClock."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from fusionbridge.clock import SystemClock
from fusionbridge.errors import (
    DailyCapError,
    FusionSolarApiError,
    FusionSolarRateLimited,
    TransientError,
    UnexpectedResponseError,
)
from fusionbridge.fusionsolar.client import FusionSolarClient, make_session
from fusionbridge.fusionsolar.pacing import next_midnight
from fusionbridge.fusionsolar.state import EndpointState, MemoryPacingStore
from fusionbridge.retry import RetryPolicy
from fusionbridge.simulator.fusionsolar import Fault
from fusionbridge.store import Ledger
from tests.fusionsolar_harness import FAST_RETRY, ZONE, harness


async def test_two_calls_to_one_endpoint_are_min_interval_apart() -> None:
    async with harness(min_interval_s=65, window_s=60) as h:
        client = h.client()
        await client.devices(["NE=1"])
        await client.devices(["NE=2"])
        await client.devices(["NE=3"])
        assert h.gaps("getDevList") == [65.0, 65.0]
        assert h.sim.served["getDevList"] == 3  # no 407 on the way
        assert h.virtual.slept == [65.0, 65.0]


async def test_different_endpoints_do_not_wait_for_each_other() -> None:
    async with harness() as h:
        client = h.client()
        plants = await client.plants()
        await client.devices([p.code for p in plants])
        await client.plant_real_kpi([p.code for p in plants])
        assert h.virtual.slept == []


async def test_one_request_in_flight_per_account() -> None:
    async with harness(min_interval_s=0.001, window_s=0, clock=SystemClock()) as h:
        h.sim.inject(Fault("slow", delay_s=0.02, times=6))
        client = h.client()
        codes = [p.code for p in h.sim.fleet.plants]
        await asyncio.gather(
            client.devices(codes),
            client.plant_real_kpi(codes),
            client.plants(),
            client.devices(codes[:1]),
        )
        assert h.sim.max_in_flight == 1
        assert h.sim.count("getDevList") == 2


async def test_every_request_is_counted_before_it_leaves() -> None:
    async with harness() as h:
        seen_by_server: list[int] = []

        class SpyStore(MemoryPacingStore):
            async def save_endpoint(self, endpoint: str, state: EndpointState) -> None:
                seen_by_server.append(h.sim.count(endpoint))
                await super().save_endpoint(endpoint, state)

        h.sim.inject(Fault("reset", endpoint="getDevList"))
        await h.client(SpyStore()).devices(["NE=1"])
        # login, the reset request, the retry: each saved while the server had not seen it yet
        assert seen_by_server == [0, 0, 1]


async def test_a_slow_stamp_write_does_not_shorten_the_next_gap() -> None:
    """The stamp is taken before its durable write, which a ledger busy with other accounts'
    writes may hold for seconds; the next call waits from when the last one left."""
    async with harness(min_interval_s=65, window_s=60) as h:
        delays = [8.0]

        class BusyLedger(MemoryPacingStore):
            async def save_endpoint(self, endpoint: str, state: EndpointState) -> None:
                if endpoint == "getDevList" and delays:
                    h.virtual.advance(delays.pop())  # queued behind other accounts' writes
                await super().save_endpoint(endpoint, state)

        client = h.client(BusyLedger())
        await client.devices(["NE=1"])
        await client.devices(["NE=2"])
        assert h.gaps("getDevList") == [65.0]
        assert h.sim.count("getDevList") == 2  # no 407 on the way


async def test_a_restarted_client_waits_instead_of_firing() -> None:
    async with harness(min_interval_s=65, window_s=60) as h:
        await h.client().devices(["NE=1"])
        h.virtual.advance(10)
        restarted = h.client()  # a new process on the same store
        await restarted.devices(["NE=2"])
        assert h.gaps("getDevList") == [65.0]
        assert h.virtual.slept == [55.0]
        assert h.sim.count("login") == 1
        assert h.sim.served["getDevList"] == 2


async def test_a_restart_on_the_ledger_keeps_pacing_and_token(ledger_target: Path | str) -> None:
    async with harness(min_interval_s=65, window_s=60) as h:
        path = ledger_target
        async with Ledger.open(path, h.clock) as ledger:
            await h.client(ledger.pacing).devices(["NE=1"])
        h.virtual.advance(5)
        async with Ledger.open(path, h.clock) as ledger:
            restarted = h.client(ledger.pacing)
            await restarted.devices(["NE=2"])
            assert await restarted.calls_today() == {"getDevList": 2, "login": 1}
        assert h.gaps("getDevList") == [65.0]
        assert h.virtual.slept == [60.0]
        assert h.sim.count("login") == 1


async def test_a_wall_clock_set_back_does_not_block_for_hours() -> None:
    async with harness(min_interval_s=65) as h:
        future = h.clock.now() + timedelta(hours=3)
        await h.store.save_endpoint("getDevList", EndpointState(last_call=future))
        await h.client().devices(["NE=1"])
        assert h.virtual.slept == [65.0]


async def test_407_waits_for_the_next_window_and_retries() -> None:
    async with harness(min_interval_s=65, window_s=60) as h:
        h.sim.inject(Fault("fail", endpoint="getDevList", fail_code=407))
        devices = await h.client().devices([h.sim.fleet.plants[0].code])
        assert devices
        assert h.sim.count("getDevList") == 2
        assert h.gaps("getDevList") == [65.0]


async def test_407_from_a_longer_upstream_window_is_retried_a_bounded_number_of_times() -> None:
    async with harness(min_interval_s=65, window_s=300) as h:
        client = h.client()
        await client.devices(["NE=1"])
        devices = await client.devices([h.sim.fleet.plants[0].code])  # 407, 407, 407, ok
        assert devices
        assert h.gaps("getDevList") == [65.0, 65.0, 130.0, 195.0]
        h.sim.inject(Fault("fail", endpoint="getDevList", fail_code=407, times=10))
        with pytest.raises(FusionSolarRateLimited) as caught:
            await client.devices(["NE=1"])
        assert caught.value.retry_after >= 65
        assert h.sim.count("getDevList") == 5 + 4


async def test_daily_cap_blocks_the_endpoint_until_the_next_local_midnight() -> None:
    async with harness(daily_caps={"getDevList": 2}) as h:
        client = h.client()
        await client.devices(["NE=1"])
        await client.devices(["NE=1"])
        with pytest.raises(DailyCapError) as caught:
            await client.devices(["NE=1"])
        midnight = next_midnight(h.clock.now(), ZONE)
        assert midnight == datetime(2025, 11, 10, 23, tzinfo=UTC)
        assert h.store.endpoints["getDevList"].blocked_until == midnight
        assert caught.value.retry_after == pytest.approx((midnight - h.clock.now()).total_seconds())
        sent = h.sim.count("getDevList")
        for fresh in (client, h.client()):  # also a restarted process
            with pytest.raises(DailyCapError):
                await fresh.devices(["NE=1"])
        assert h.sim.count("getDevList") == sent
        await client.plants()  # other endpoints are not blocked
        h.virtual.set(midnight + timedelta(minutes=1))
        assert await client.devices([h.sim.fleet.plants[0].code])
        assert await client.calls_today() == {"getDevList": 1, "login": 1}


async def test_platform_throttle_backs_off_at_least_a_minute_then_longer() -> None:
    async with harness(min_interval_s=1, window_s=1) as h:
        h.sim.inject(Fault("http403", endpoint="getDevList", times=2))
        retry = RetryPolicy(
            attempts=2, wait_initial_s=0.001, wait_max_s=0.001, throttle_backoff_max_s=900
        )
        assert await h.client(retry=retry).devices([h.sim.fleet.plants[0].code])
        assert h.gaps("getDevList") == [60.0, 120.0]
        assert h.sim.count("getDevList") == 3


async def test_platform_throttle_that_persists_raises_with_retry_after() -> None:
    async with harness(min_interval_s=1, window_s=1) as h:
        h.sim.inject(Fault("http429", endpoint="stations", times=10))
        with pytest.raises(FusionSolarRateLimited) as caught:
            await h.client().plants()
        assert caught.value.retry_after >= 60
        assert h.sim.count("stations") == 4
        assert min(h.gaps("stations")) >= 60


@pytest.mark.parametrize(
    "fault",
    [
        Fault("http502", endpoint="getDevList"),
        Fault("reset", endpoint="getDevList"),
        Fault("html200", endpoint="getDevList"),
        Fault("empty", endpoint="getDevList"),
        Fault("fail", endpoint="getDevList", fail_code=20200),
        Fault("fail", endpoint="getDevList", fail_code=30008),
    ],
    ids=lambda f: f"{f.kind}{f.fail_code or ''}",
)
async def test_transient_failures_are_retried(fault: Fault) -> None:
    async with harness() as h:
        assert await h.client().devices([h.sim.fleet.plants[0].code])
        h.sim.inject(fault)
        assert await h.client().devices([h.sim.fleet.plants[0].code])
        assert h.sim.count("getDevList") == 3
        assert min(h.gaps("getDevList")) >= 65  # a retry is still a paced request


async def test_transient_failures_are_bounded_then_raise() -> None:
    async with harness() as h:
        h.sim.inject(Fault("http502", endpoint="getDevList", times=100))
        with pytest.raises(UnexpectedResponseError, match="502") as caught:
            await h.client().devices(["NE=1"])
        assert "Bad Gateway" in caught.value.snippet
        assert h.sim.count("getDevList") == FAST_RETRY.attempts


async def test_a_slow_answer_times_out_and_is_retried() -> None:
    async with harness(min_interval_s=0.001, window_s=0, clock=SystemClock()) as h:
        h.sim.inject(Fault("slow", endpoint="getDevList", delay_s=0.2))
        async with make_session(h.settings(timeout_s=0.05)) as short:
            client = FusionSolarClient(
                short, h.settings(), h.store, clock=h.clock, zone=ZONE, retry=FAST_RETRY
            )
            assert await client.devices([h.sim.fleet.plants[0].code])
        assert h.sim.count("getDevList") == 2


async def test_unreachable_host_is_a_transient_error_and_spends_no_login_quota() -> None:
    async with harness() as h:
        store = MemoryPacingStore()
        client = FusionSolarClient(
            h.session,
            h.settings(base_url="http://127.0.0.1:9"),
            store,
            clock=h.clock,
            zone=ZONE,
            retry=FAST_RETRY,
        )
        for _ in range(3):
            with pytest.raises(TransientError, match=r"cannot reach http://127\.0\.0\.1:9"):
                await client.plants()
        assert client.calls == {"login": 3 * FAST_RETRY.attempts}
        assert store.session.login_attempts == ()


async def test_other_fail_codes_are_api_errors_without_retry() -> None:
    async with harness() as h:
        h.sim.inject(Fault("fail", endpoint="getDevList", fail_code=20056))
        with pytest.raises(FusionSolarApiError, match="owner") as caught:
            await h.client().devices(["NE=1"])
        assert caught.value.fail_code == 20056
        assert h.sim.count("getDevList") == 1


async def test_session_factory_honours_tls_settings(tmp_path: Path) -> None:
    async with harness() as h:
        async with make_session(h.settings(verify_tls=False, timeout_s=7)) as insecure:
            assert insecure.timeout.total == 7
            assert await FusionSolarClient(
                insecure, h.settings(), MemoryPacingStore(), clock=h.clock, zone=ZONE
            ).plants()
        with pytest.raises(OSError):
            make_session(h.settings(ca_bundle=tmp_path / "missing.pem"))
