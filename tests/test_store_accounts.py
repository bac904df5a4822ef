"""One ledger, many accounts (SPEC §14): each account's own state, and the upgrade that keys it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import SecretStr

from fusionbridge.clock import VirtualClock
from fusionbridge.core.models import Device, Plant
from fusionbridge.fusionsolar.oauth_state import OAuthTokens
from fusionbridge.fusionsolar.state import EndpointState, SessionState
from fusionbridge.store import SCHEMA_VERSION, Ledger, migrations

T0 = datetime(2025, 3, 1, 6, 30, tzinfo=UTC)


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock(T0)


def _tokens(access: str) -> OAuthTokens:
    return OAuthTokens(
        client_id="app",
        access_token=SecretStr(access),
        refresh_token=SecretStr(f"refresh-{access}"),
        expires_at=T0 + timedelta(hours=1),
        scope="pvms.openapi.basic",
        obtained_at=T0,
    )


async def test_each_account_keeps_its_own_login_pacing_tokens_runs_and_inventory(
    ledger_target: Path | str, clock: VirtualClock
) -> None:
    async with Ledger.open(ledger_target, clock) as ledger:
        north, south = ledger.for_account("north"), ledger.for_account("south")
        await north.pacing.save_endpoint(
            "getDevKpiDay", EndpointState(last_call=T0, calls_on_day=2)
        )
        await north.pacing.save_session(SessionState(token="north-token", logged_in_at=T0))
        await south.pacing.save_session(SessionState(token="south-token", logged_in_at=T0))
        await north.oauth.save_oauth(_tokens("north-access"))
        await north.jobs.started("sync", T0, holder="host-a:1")
        await south.jobs.started("sync", T0, holder="host-b:2")
        await south.jobs.finished("sync", T0, True, None)
        await north.inventory.save([Plant("NE=1", "North")], [Device(1, "NE=1", 1, "n")], T0)
        await south.inventory.save([Plant("NE=1", "Shared")], [Device(1, "NE=1", 1, "s")], T0)
        await south.inventory.save([Plant("NE=2", "South")], [Device(2, "NE=2", 1, "s")], T0)
        await north.live.mark_live_fetch("realtime", T0)

        assert (await north.pacing.load_endpoints())["getDevKpiDay"].calls_on_day == 2
        assert await south.pacing.load_endpoints() == {}
        assert (await north.pacing.load_session()).token == "north-token"
        assert (await south.pacing.load_session()).token == "south-token"
        assert await south.oauth.load_oauth() is None
        assert await south.oauth.refuse_oauth(SecretStr("refresh-north-access"), T0, "x") is False
        north_tokens = await north.oauth.load_oauth()
        assert north_tokens is not None
        assert not north_tokens.refused
        assert (await north.jobs.runs())["sync"].running
        assert not (await south.jobs.runs())["sync"].running
        every = await ledger.jobs.every_account()
        assert sorted(every) == ["north", "south"]
        assert every["north"]["sync"].holder == "host-a:1"
        # a refreshed listing replaces only its own account's, never another's
        assert [p.name for p in (await north.inventory.load()).plants] == ["North"]
        assert [p.code for p in (await south.inventory.load()).plants] == ["NE=2"]
        assert len((await ledger.inventory.load_every_account()).plants) == 2
        assert await south.live.live_fetches() == {}
        assert list(await north.live.live_fetches()) == ["realtime"]


async def test_the_accounts_step_gives_the_single_account_rows_to_default(
    ledger_target: Path | str, clock: VirtualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = SCHEMA_VERSION - 1
    with monkeypatch.context() as patched:
        patched.setattr(migrations, "SCHEMA_VERSION", before)
        async with Ledger.open(ledger_target, clock) as old, old._db.transaction() as tx:
            assert old.schema_version == before
            for sql in (
                "INSERT INTO fusionsolar_session (id, token, login_attempts) VALUES (1, 'tok', '[]')",
                "INSERT INTO endpoint_pacing (endpoint, calls_on_day) VALUES ('getDevKpiMonth', 4)",
                "INSERT INTO job_runs (name, runs, successes) VALUES ('sync', 7, 6)",
                "INSERT INTO plants (code, name) VALUES ('NE=9', 'Old plant')",
                "INSERT INTO devices (id, plant_code, type_id, name) VALUES (9, 'NE=9', 1, 'inv')",
                "INSERT INTO inventory_refresh (id, refreshed_at) "
                "VALUES (1, '2025-03-01T06:30:00.000000+00:00')",
                "INSERT INTO fusionsolar_oauth (id, client_id, access_token, refresh_token, "
                "expires_at, scope, obtained_at) VALUES (1, 'app', 'a', 'r', "
                "'2025-03-01T07:30:00.000000+00:00', 's', '2025-03-01T06:30:00.000000+00:00')",
                "INSERT INTO live_fetches (kind, fetched_at) "
                "VALUES ('realtime', '2025-03-01T06:30:00.000000+00:00')",
            ):
                await tx.execute(sql)
    async with Ledger.open(ledger_target, clock) as ledger:
        assert ledger.schema_version == SCHEMA_VERSION
        assert (await ledger.pacing.load_session()).token == "tok"
        assert (await ledger.pacing.load_endpoints())["getDevKpiMonth"].calls_on_day == 4
        runs = (await ledger.jobs.runs())["sync"]
        assert (runs.runs, runs.successes, runs.holder) == (7, 6, None)
        inventory = await ledger.inventory.load()
        assert [d.id for d in inventory.devices] == [9]
        assert inventory.refreshed_at == T0
        tokens = await ledger.oauth.load_oauth()
        assert tokens is not None
        assert tokens.refresh_token.get_secret_value() == "r"
        assert list(await ledger.live.live_fetches()) == ["realtime"]
        other = ledger.for_account("other")
        assert (await other.pacing.load_session()).token is None
