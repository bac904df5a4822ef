"""Shared set-up for FusionSolar tests: the simulator on loopback, clients on a VirtualClock."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
from pydantic import SecretStr

from fusionbridge.clock import Clock, VirtualClock
from fusionbridge.core.models import Month
from fusionbridge.fusionsolar.client import FusionSolarClient, make_session
from fusionbridge.fusionsolar.state import MemoryPacingStore, PacingStore
from fusionbridge.retry import RetryPolicy
from fusionbridge.settings import FusionSolarSettings
from fusionbridge.simulator.fusionsolar import FusionSolarSimulator, SimulatorConfig

START = datetime(2025, 11, 10, 12, 0, tzinfo=UTC)
ZONE = ZoneInfo("Europe/Amsterdam")
FAST_RETRY = RetryPolicy(attempts=3, wait_initial_s=0.001, wait_max_s=0.002, timeout_s=10.0)
USER, SECRET = "api-user", "sim-system-code"


@dataclass
class Harness:
    """A running simulator, a client session to it, and a shared pacing store."""

    sim: FusionSolarSimulator
    clock: Clock
    base_url: str
    session: aiohttp.ClientSession
    store: MemoryPacingStore
    min_interval_s: float

    @property
    def virtual(self) -> VirtualClock:
        assert isinstance(self.clock, VirtualClock)
        return self.clock

    def settings(self, **overrides: Any) -> FusionSolarSettings:
        values: dict[str, Any] = {
            "base_url": self.base_url,
            "username": USER,
            "system_code": SecretStr(SECRET),
            "min_interval_s": self.min_interval_s,
            **overrides,
        }
        return FusionSolarSettings(**values)

    def client(
        self,
        store: PacingStore | None = None,
        *,
        system_code: str = SECRET,
        retry: RetryPolicy = FAST_RETRY,
        on_request: Callable[[str, str], None] | None = None,
    ) -> FusionSolarClient:
        return FusionSolarClient(
            self.session,
            self.settings(system_code=SecretStr(system_code)),
            self.store if store is None else store,
            clock=self.clock,
            zone=ZONE,
            on_request=on_request,
            retry=retry,
        )

    def gaps(self, endpoint: str) -> list[float]:
        """Seconds between consecutive requests the simulator received for `endpoint`."""
        times = self.sim.times(endpoint)
        return [(b - a).total_seconds() for a, b in pairwise(times)]


@asynccontextmanager
async def harness(
    *,
    min_interval_s: float = 65.0,
    window_s: float = 60.0,
    clock: Clock | None = None,
    **config: Any,
) -> AsyncIterator[Harness]:
    """Serve a simulator on 127.0.0.1 and yield a harness around it."""
    clock = clock or VirtualClock(START)
    sim = FusionSolarSimulator(
        SimulatorConfig(clock=clock, window_s=window_s, quota_zone=ZONE.key, **config)
    )
    async with sim.serve() as base_url:
        settings = FusionSolarSettings(
            base_url=base_url, username=USER, system_code=SecretStr(SECRET), timeout_s=10
        )
        async with make_session(settings) as session:
            yield Harness(sim, clock, base_url, session, MemoryPacingStore(), min_interval_s)


def inside_month(month: Month, zone: ZoneInfo) -> datetime:
    """The 15th at 12:00 local: a collectTime inside `month` in `zone` (and within ±14 h of it)."""
    return datetime(month.year, month.month, 15, 12, tzinfo=zone)


def max_logins_in_window(times: list[datetime], window: timedelta = timedelta(minutes=10)) -> int:
    """The most login requests that fall into any window of the given length."""
    return max((sum(1 for t in times if start <= t < start + window) for start in times), default=0)
