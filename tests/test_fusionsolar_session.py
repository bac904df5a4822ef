"""Login and token handling against the simulator: reuse, re-login on 305, refusals, the quota."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import timedelta

import pytest
from structlog.testing import capture_logs

from fusionbridge.errors import (
    FusionSolarApiError,
    FusionSolarLoginError,
    LoginQuotaError,
    UpstreamError,
)
from fusionbridge.fusionsolar.session import LOGIN_WINDOW, MAX_LOGINS_PER_WINDOW
from fusionbridge.fusionsolar.state import SessionState
from fusionbridge.simulator.fusionsolar import Fault
from tests.fusionsolar_harness import SECRET, harness, max_logins_in_window


def _login_outcomes(outcomes: Sequence[tuple[object, str]]) -> list[str]:
    return [outcome for _, outcome in outcomes]


@pytest.mark.parametrize(
    ("header", "cookie"),
    [(True, True), (True, False), (False, True)],
    ids=["both", "header", "cookie"],
)
async def test_token_from_header_or_cookie_is_sent_back(header: bool, cookie: bool) -> None:
    async with harness(token_in_header=header, token_in_cookie=cookie) as h:
        client = h.client()
        plants = await client.plants()
        assert len(plants) == len(h.sim.fleet.plants)
        assert _login_outcomes(h.sim.logins) == ["ok"]
        assert h.sim.served["stations"] == 1


async def test_login_without_any_token_is_an_error_not_a_retry_loop() -> None:
    async with harness(token_in_header=False, token_in_cookie=False) as h:
        with pytest.raises(UpstreamError, match="no token"):
            await h.client().plants()
        assert h.sim.count("login") == 1


async def test_token_is_reused_for_its_life_and_renewed_after() -> None:
    async with harness(min_interval_s=1, window_s=1) as h:
        client = h.client()
        plants = await client.plants()
        await client.devices([p.code for p in plants])
        await client.plant_real_kpi([plants[0].code])
        h.virtual.advance(24 * 60)
        await client.plant_real_kpi([plants[0].code])
        assert h.sim.count("login") == 1
        h.virtual.advance(2 * 60)
        await client.plant_real_kpi([plants[0].code])
        assert h.sim.count("login") == 2
        assert h.sim.count("getStationRealKpi") == 3  # none of them refused with 305


async def test_concurrent_calls_share_one_login() -> None:
    async with harness(min_interval_s=1, window_s=1) as h:
        client = h.client()
        codes = [p.code for p in h.sim.fleet.plants]
        await asyncio.gather(client.plants(), client.devices(codes), client.plant_real_kpi(codes))
        assert h.sim.count("login") == 1


async def test_a_new_client_on_the_same_store_reuses_the_live_token() -> None:
    async with harness() as h:
        await h.client().plants()
        restarted = h.client()  # same MemoryPacingStore: a restart of the process
        await restarted.devices([h.sim.fleet.plants[0].code])
        assert h.sim.count("login") == 1
        assert restarted.calls == {"getDevList": 1}


async def test_expired_token_means_one_relogin_and_one_retry() -> None:
    async with harness() as h:
        client = h.client()
        await client.plants()
        h.sim.expire_token()
        devices = await client.devices([h.sim.fleet.plants[0].code])
        assert devices
        assert h.sim.count("login") == 2
        assert h.sim.count("getDevList") == 2
        assert client.calls["getDevList"] == 2


async def test_token_refused_again_after_relogin_stops_with_an_error() -> None:
    async with harness() as h:
        h.sim.inject(Fault("fail", endpoint="getDevList", fail_code=305, times=50))
        with pytest.raises(FusionSolarApiError, match="another client") as caught:
            await h.client().devices(["NE=1"])
        assert caught.value.fail_code == 305
        assert h.sim.count("login") == 2
        assert h.sim.count("getDevList") == 2


async def test_login_quota_holds_even_when_305_keeps_coming() -> None:
    async with harness(min_interval_s=1, window_s=1) as h:
        h.sim.inject(Fault("fail", fail_code=305, times=10_000))
        errors: list[type[Exception]] = []
        for _ in range(40):  # a restart loop that keeps trying for 40 x 30 s = 20 minutes
            with pytest.raises((FusionSolarApiError, LoginQuotaError)) as caught:
                await h.client(h.store).plant_real_kpi(["NE=1"])
            errors.append(type(caught.value))
            h.virtual.advance(30)
        login_times = h.sim.times("login")
        assert max_logins_in_window(login_times) <= MAX_LOGINS_PER_WINDOW < 5
        assert LoginQuotaError in errors
        assert [o for o in _login_outcomes(h.sim.logins) if o != "ok"] == []
        assert len(login_times) >= MAX_LOGINS_PER_WINDOW  # it does log in again once allowed


async def test_login_quota_counts_logins_of_earlier_processes() -> None:
    async with harness() as h:
        now = h.clock.now()
        h.store.session = SessionState(
            login_attempts=tuple(now - timedelta(minutes=m) for m in (1, 2, 3, 4))
        )
        with pytest.raises(LoginQuotaError) as caught:
            await h.client().plants()
        assert h.sim.count("login") == 0
        assert 0 < caught.value.retry_after <= LOGIN_WINDOW.total_seconds()


async def test_wrong_credentials_give_one_clear_error_and_are_not_retried() -> None:
    async with harness() as h:
        client = h.client(system_code="wrong-secret")
        with capture_logs() as logs, pytest.raises(FusionSolarLoginError) as first:
            await client.plants()
        assert "wrong user name or system code" in str(first.value)
        assert "wrong-secret" not in str(first.value)
        assert "wrong-secret" not in repr(logs)
        assert [e["event"] for e in logs if e["log_level"] == "error"] == [
            "fusionsolar.login_refused"
        ]
        with pytest.raises(FusionSolarLoginError, match="not trying the same credentials"):
            await client.plants()
        assert _login_outcomes(h.sim.logins) == ["refused"]


async def test_a_restart_does_not_retry_refused_credentials_for_30_minutes() -> None:
    async with harness() as h:
        with pytest.raises(FusionSolarLoginError):
            await h.client(system_code="wrong-secret").plants()
        for _ in range(5):  # a restart loop
            with pytest.raises(FusionSolarLoginError):
                await h.client(system_code="wrong-secret").plants()
            h.virtual.advance(60)
        assert h.sim.count("login") == 1
        h.virtual.advance(26 * 60)
        with pytest.raises(FusionSolarLoginError):
            await h.client(system_code="wrong-secret").plants()
        assert h.sim.count("login") == 2
        await h.client(system_code=SECRET).plants()  # fixed credentials are tried at once
        assert _login_outcomes(h.sim.logins) == ["refused", "refused", "ok"]


@pytest.mark.parametrize("code", [20001, 20002, 20003, 20400, 20403])
async def test_refusing_fail_codes_on_login(code: int) -> None:
    async with harness() as h:
        h.sim.inject(Fault("fail", endpoint="login", fail_code=code))
        with pytest.raises(FusionSolarLoginError) as caught:
            await h.client().plants()
        assert caught.value.fail_code == code
        with pytest.raises(FusionSolarLoginError):
            await h.client().plants()
        assert h.sim.count("login") == 1


async def test_login_rate_limited_upstream_is_a_quota_error() -> None:
    async with harness() as h:
        h.sim.inject(Fault("fail", endpoint="login", fail_code=407))
        with pytest.raises(LoginQuotaError):
            await h.client().plants()
        assert h.sim.count("login") == 1


async def test_a_flaky_login_is_retried_within_the_quota() -> None:
    async with harness() as h:
        h.sim.inject(Fault("http502", endpoint="login", times=2))
        await h.client().plants()
        assert h.sim.count("login") == 3
        assert len(h.store.session.login_attempts) == 3


async def test_on_request_sees_every_request_outcome() -> None:
    seen: list[tuple[str, str]] = []
    async with harness() as h:
        client = h.client(on_request=lambda endpoint, outcome: seen.append((endpoint, outcome)))
        await client.plants()
        h.sim.expire_token()
        await client.devices(["NE=1"])
    assert seen == [
        ("login", "ok"),
        ("stations", "ok"),
        ("getDevList", "session_expired"),
        ("login", "ok"),
        ("getDevList", "ok"),
    ]


async def test_the_token_never_reaches_the_logs() -> None:
    async with harness() as h:
        with capture_logs() as logs:
            await h.client().plants()
            token = h.store.session.token
        assert token is not None
        assert token not in repr(logs)
        assert SECRET not in repr(logs)
        assert any(e["event"] == "fusionsolar.login" for e in logs)
