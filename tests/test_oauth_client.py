"""OAuth Connect against the simulator over real HTTP: bearer calls, refresh, rotation, revocation.

The client, the ledger and the simulator share one VirtualClock, so tokens that live 5 minutes
expire many times during a paced sync without any real waiting.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from fusionbridge.clock import VirtualClock
from fusionbridge.core.models import Month
from fusionbridge.errors import FusionSolarApiError, FusionSolarAuthorizationError
from fusionbridge.fusionsolar.oauth import REVOKED
from fusionbridge.jobs.push import push
from fusionbridge.jobs.sources import load_inventory
from fusionbridge.jobs.sync import sync
from fusionbridge.simulator.fusionsolar import Fault
from fusionbridge.simulator.fusionsolar_oauth import OAuthSimConfig
from fusionbridge.store import Ledger
from tests.oauth_harness import authorized, oauth_section
from tests.pipeline_harness import Pipeline, serve_pipeline

FEB_10 = datetime(2026, 2, 10, 12, 0, tzinfo=UTC)
FIRST, LAST = Month(2025, 2), Month(2026, 1)
PACE = {"min_interval_s": 65.0}


def oauth_settings(pipeline: Pipeline, inverters: list[dict[str, Any]]) -> Any:
    return pipeline.settings(inverters, fusionsolar=PACE | oauth_section(pipeline.fusionsolar_url))


async def test_sync_and_push_are_exact_with_bearer_tokens_expiring_during_the_run(
    ledger_target: Path | str,
) -> None:
    clock = VirtualClock(FEB_10)
    oauth = OAuthSimConfig(access_lifetime_s=300)
    async with serve_pipeline(ledger_target, clock, window_s=60.0, oauth=oauth) as pipeline:
        inverters = pipeline.mixed_inverters()
        pipeline.redex.register(*(str(e["remote_inv_id"]) for e in inverters))
        settings = oauth_settings(pipeline, inverters)
        await authorized(settings, clock)
        async with pipeline.runtime(settings, clock) as rt:
            await sync(rt, first=FIRST, last=LAST)
            clock.advance(3600)  # every token of the sync is long dead
            await sync(rt, daily=True)
            await push(rt, wait_s=60)
    sim = pipeline.fusionsolar
    assert sim.count("login") == 0  # never /thirdData/login in OAuth mode
    assert sim.oauth.count("authorization_code") == 1
    assert sim.oauth.count("refresh_token") >= 3  # the 5-minute tokens were renewed mid-run
    assert all(g.status == 200 for g in sim.oauth.grants)
    assert sim.oauth.refused_bearers == 0  # refreshed ahead of expiry, never after a refusal
    for entry in inverters:
        remote = str(entry["remote_inv_id"])
        assert pipeline.held(remote) == pipeline.truth(entry, FIRST, LAST), remote


async def test_the_rotated_refresh_token_survives_a_restart(ledger_target: Path | str) -> None:
    clock = VirtualClock(FEB_10)
    async with serve_pipeline(ledger_target, clock) as pipeline:
        settings = oauth_settings(pipeline, [])
        await authorized(settings, clock)
        async with Ledger.open(settings.storage, clock) as ledger:
            first = await ledger.oauth.load_oauth()
        clock.advance(3600)
        async with pipeline.runtime(settings, clock) as rt:
            assert await rt.fusionsolar.plants()
        async with Ledger.open(settings.storage, clock) as ledger:
            rotated = await ledger.oauth.load_oauth()
        assert first is not None
        assert rotated is not None
        assert rotated.refresh_token != first.refresh_token  # the simulator rotated it
        clock.advance(3600)  # a new process: it must use the rotated token (the old one is dead)
        async with pipeline.runtime(settings, clock) as rt:
            assert await rt.fusionsolar.plants()
    oauth = pipeline.fusionsolar.oauth
    assert oauth.count("authorization_code") == 1  # no new authorization was needed
    assert [g.status for g in oauth.grants if g.grant_type == "refresh_token"] == [200, 200]


async def test_no_rotation_keeps_the_old_refresh_token(ledger_target: Path | str) -> None:
    clock = VirtualClock(FEB_10)
    oauth = OAuthSimConfig(rotate_refresh=False)
    async with serve_pipeline(ledger_target, clock, oauth=oauth) as pipeline:
        settings = oauth_settings(pipeline, [])
        await authorized(settings, clock)
        for _ in range(3):
            clock.advance(3600)
            async with pipeline.runtime(settings, clock) as rt:
                assert await rt.fusionsolar.plants()
    assert pipeline.fusionsolar.oauth.count("refresh_token") == 3


@pytest.mark.parametrize("refusal", [401, 305])
async def test_a_refused_bearer_gets_one_refresh_and_one_retry(
    ledger_target: Path | str, refusal: Any
) -> None:
    clock = VirtualClock(FEB_10)
    oauth = OAuthSimConfig(refused_bearer=refusal)
    async with serve_pipeline(ledger_target, clock, oauth=oauth) as pipeline:
        settings = oauth_settings(pipeline, [])
        await authorized(settings, clock)
        async with pipeline.runtime(settings, clock) as rt:
            assert await rt.fusionsolar.plants()
            pipeline.fusionsolar.oauth.expire_access()  # dead upstream, alive by its expiry
            clock.advance(1)
            assert await rt.fusionsolar.plants()
    sim = pipeline.fusionsolar
    assert sim.oauth.count("refresh_token") == 1
    assert sim.oauth.refused_bearers == 1
    assert sim.count("stations") == 3  # the first call, the refused one, its one retry


async def test_concurrent_calls_share_one_refresh(ledger_target: Path | str) -> None:
    clock = VirtualClock(FEB_10)
    async with serve_pipeline(ledger_target, clock) as pipeline:
        settings = oauth_settings(pipeline, [])
        await authorized(settings, clock)
        clock.advance(3600)
        codes = [p.code for p in pipeline.fusionsolar.fleet.plants]
        async with pipeline.runtime(settings, clock) as rt:
            await asyncio.gather(
                rt.fusionsolar.plants(),
                rt.fusionsolar.devices(codes),
                rt.fusionsolar.plant_real_kpi(codes),
            )
    assert pipeline.fusionsolar.oauth.count("refresh_token") == 1


async def test_a_revoked_authorization_fails_once_and_never_loops(
    ledger_target: Path | str,
) -> None:
    clock = VirtualClock(FEB_10)
    async with serve_pipeline(ledger_target, clock) as pipeline:
        inverters = pipeline.mixed_inverters()
        settings = oauth_settings(pipeline, inverters)
        await authorized(settings, clock)
        oauth = pipeline.fusionsolar.oauth
        oauth.revoke()
        clock.advance(3600)
        async with pipeline.runtime(settings, clock) as rt:
            for _ in range(3):
                with pytest.raises(FusionSolarAuthorizationError) as raised:
                    await sync(rt, daily=True)
                assert str(raised.value) == REVOKED
        clock.advance(86400)
        async with pipeline.runtime(settings, clock) as rt:  # a restart does not retry either
            with pytest.raises(FusionSolarAuthorizationError):
                await load_inventory(rt, refresh=True)
        assert oauth.count() == 2  # the code exchange and the one refused refresh
        assert pipeline.fusionsolar.count("stations") == 0

        await authorized(settings, clock)  # the owner authorizes again: everything works
        async with pipeline.runtime(settings, clock) as rt:
            assert (await load_inventory(rt, refresh=True)).plants


async def test_tokens_of_another_client_id_are_not_used(ledger_target: Path | str) -> None:
    clock = VirtualClock(FEB_10)
    async with serve_pipeline(ledger_target, clock) as pipeline:
        settings = oauth_settings(pipeline, [])
        await authorized(settings, clock)
        other = pipeline.settings(
            [], fusionsolar=oauth_section(pipeline.fusionsolar_url) | {"client_id": "other-app"}
        )
        async with pipeline.runtime(other, clock) as rt:
            with pytest.raises(FusionSolarAuthorizationError, match="client_id 'sim-oauth-client'"):
                await rt.fusionsolar.plants()
    assert pipeline.fusionsolar.oauth.count() == 1


@pytest.mark.parametrize("auth", ["account", "oauth"])
async def test_20056_names_the_refused_data_and_what_the_owner_must_do(
    ledger_target: Path | str, auth: str
) -> None:
    clock = VirtualClock(FEB_10)
    async with serve_pipeline(ledger_target, clock) as pipeline:
        section = PACE | (oauth_section(pipeline.fusionsolar_url) if auth == "oauth" else {})
        settings = pipeline.settings([], fusionsolar=section)
        if auth == "oauth":
            await authorized(settings, clock)
        plant = pipeline.fusionsolar.fleet.plants[0].code
        pipeline.fusionsolar.inject(Fault("fail", endpoint="getDevList", fail_code=20056))
        async with pipeline.runtime(settings, clock) as rt:
            with pytest.raises(FusionSolarApiError) as raised:
                await rt.fusionsolar.devices([plant])
    message = str(raised.value)
    assert raised.value.fail_code == 20056
    assert f"getDevList for plants {plant}" in message
    assert "the owner must grant fusionbridge access" in message
    assert pipeline.fusionsolar.count("getDevList") == 1  # permanent: not retried


@pytest.mark.parametrize("auth", ["account", "oauth"])
async def test_20004_is_flow_control_backed_off_then_retried(
    ledger_target: Path | str, auth: str
) -> None:
    clock = VirtualClock(FEB_10)
    async with serve_pipeline(ledger_target, clock) as pipeline:
        section = PACE | (oauth_section(pipeline.fusionsolar_url) if auth == "oauth" else {})
        settings = pipeline.settings([], fusionsolar=section)
        if auth == "oauth":
            await authorized(settings, clock)
        plant = pipeline.fusionsolar.fleet.plants[0].code
        pipeline.fusionsolar.inject(Fault("fail", endpoint="getDevList", fail_code=20004))
        async with pipeline.runtime(settings, clock) as rt:
            assert await rt.fusionsolar.devices([plant])
    sim = pipeline.fusionsolar
    first, second = sim.times("getDevList")
    assert (second - first).total_seconds() >= 65  # backed off at least one pacing window
    assert sim.count("getDevList") == 2
