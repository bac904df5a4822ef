"""The ledger as PacingStore: what the FusionSolar client saves survives a restart exactly."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

from fusionbridge.clock import VirtualClock
from fusionbridge.fusionsolar.state import EndpointState, PacingStore, SessionState
from fusionbridge.store import Ledger

T0 = datetime(2025, 3, 1, 6, 30, 15, 123456, tzinfo=UTC)


async def test_empty_ledger_has_empty_pacing(ledger_target: Path | str) -> None:
    async with Ledger.open(ledger_target, VirtualClock(T0)) as ledger:
        assert await ledger.pacing.load_endpoints() == {}
        assert await ledger.pacing.load_session() == SessionState()


async def test_pacing_survives_restart(ledger_target: Path | str) -> None:
    path = ledger_target
    clock = VirtualClock(T0)
    cet = timezone(timedelta(hours=1))
    month = EndpointState(
        last_call=T0, day=date(2025, 3, 1), calls_on_day=7, blocked_until=T0 + timedelta(hours=5)
    )
    day = EndpointState(last_call=T0.astimezone(cet), day=date(2025, 3, 1), calls_on_day=1)
    session = SessionState(
        token="x-token-123",
        logged_in_at=T0 - timedelta(minutes=3),
        login_attempts=(T0 - timedelta(minutes=9), T0 - timedelta(minutes=3)),
        refused_fingerprint="sha256:abc",
        refused_at=T0 - timedelta(days=1),
    )
    async with Ledger.open(path, clock) as ledger:
        store: PacingStore = ledger.pacing
        await store.save_endpoint("getDevKpiMonth", EndpointState())
        await store.save_endpoint("getDevKpiMonth", month)
        await store.save_endpoint("getDevKpiDay", day)
        await store.save_session(session)

    async with Ledger.open(path, clock) as ledger:
        endpoints = await ledger.pacing.load_endpoints()
        restored = await ledger.pacing.load_session()
    assert endpoints == {"getDevKpiMonth": month, "getDevKpiDay": day}
    assert endpoints["getDevKpiDay"].last_call is not None
    assert endpoints["getDevKpiDay"].last_call.utcoffset() == timedelta(0)
    assert restored == session


async def test_session_is_replaced_not_merged(ledger_target: Path | str) -> None:
    async with Ledger.open(ledger_target, VirtualClock(T0)) as ledger:
        await ledger.pacing.save_session(
            SessionState(token="a", logged_in_at=T0, login_attempts=(T0,))
        )
        await ledger.pacing.save_session(SessionState(login_attempts=(T0,)))
        assert await ledger.pacing.load_session() == SessionState(login_attempts=(T0,))
