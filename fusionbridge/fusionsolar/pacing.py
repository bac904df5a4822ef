"""Per-endpoint pacing for one FusionSolar account, persisted so a restart keeps the same rhythm.

Every request counts against its endpoint's window whatever the answer, and is recorded before it
leaves, so a crash mid-request still counts it. The state is re-read from the store before each
request: a second process on the same ledger sees the first one's calls and waits.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from fusionbridge.clock import Clock
from fusionbridge.errors import DailyCapError
from fusionbridge.fusionsolar.state import EndpointState, PacingStore
from fusionbridge.logs import get_logger

log = get_logger(__name__)


def next_midnight(now: datetime, zone: ZoneInfo) -> datetime:
    """The start of tomorrow in `zone`, as a UTC instant."""
    tomorrow = now.astimezone(zone).date() + timedelta(days=1)
    return datetime.combine(tomorrow, time(0), tzinfo=zone).astimezone(UTC)


class Pacer:
    """One request per endpoint per interval and one in flight per account, counted durably."""

    def __init__(
        self, store: PacingStore, clock: Clock, *, min_interval_s: float, zone: ZoneInfo
    ) -> None:
        self._store = store
        self._clock = clock
        self._interval = timedelta(seconds=min_interval_s)
        self._zone = zone
        self._in_flight = asyncio.Lock()
        self._backoff_until: dict[str, datetime] = {}
        self._left: dict[str, datetime] = {}
        """When each endpoint's last call left this process: its durable stamp is taken before
        the ledger write, which a busy ledger (many accounts on one connection) may delay."""

    @property
    def interval_s(self) -> float:
        return self._interval.total_seconds()

    async def _state(self, endpoint: str) -> EndpointState:
        return (await self._store.load_endpoints()).get(endpoint, EndpointState())

    async def wait_needed(self, endpoint: str) -> float:
        """Seconds until `endpoint` may be called; DailyCapError while its daily cap is spent."""
        now = self._clock.now()
        state = await self._state(endpoint)
        if state.blocked_until is not None and now < state.blocked_until:
            raise DailyCapError(
                f"FusionSolar {endpoint}: daily cap spent, blocked until "
                f"{state.blocked_until.astimezone(self._zone):%Y-%m-%d %H:%M %Z}",
                (state.blocked_until - now).total_seconds(),
            )
        if state.last_call is not None and state.last_call > now:
            # The wall clock was set back: count that call as made now rather than wait hours.
            state = replace(state, last_call=now)
            await self._store.save_endpoint(endpoint, state)
        last = state.last_call
        left = self._left.get(endpoint)
        if left is not None and left <= now and (last is None or left > last):
            last = left
        ready = now if last is None else last + self._interval
        backoff = self._backoff_until.get(endpoint)
        if backoff is not None and backoff > ready:
            ready = backoff
        return max(0.0, (ready - now).total_seconds())

    @asynccontextmanager
    async def slot(self, endpoint: str) -> AsyncIterator[None]:
        """Wait for the endpoint's window, hold the account's single request slot, count the call."""
        while True:
            wait = await self.wait_needed(endpoint)
            if wait > 0:
                log.debug("fusionsolar.pacing_wait", endpoint=endpoint, wait_s=round(wait, 3))
                await self._clock.sleep(wait)
            await self._in_flight.acquire()
            try:
                if await self.wait_needed(endpoint) <= 0:
                    await self._record(endpoint)
                    self._left[endpoint] = self._clock.now()
                    break
            except BaseException:
                self._in_flight.release()
                raise
            self._in_flight.release()
        try:
            yield
        finally:
            self._in_flight.release()

    async def _record(self, endpoint: str) -> None:
        now = self._clock.now()
        today = now.astimezone(self._zone).date()
        state = await self._state(endpoint)
        count = state.calls_on_day + 1 if state.day == today else 1
        blocked = state.blocked_until if state.blocked_until and state.blocked_until > now else None
        await self._store.save_endpoint(
            endpoint,
            replace(state, last_call=now, day=today, calls_on_day=count, blocked_until=blocked),
        )

    async def block_for_today(self, endpoint: str) -> datetime:
        """Refuse `endpoint` until the next midnight in the account's zone (failCode 20618)."""
        until = next_midnight(self._clock.now(), self._zone)
        state = await self._state(endpoint)
        await self._store.save_endpoint(endpoint, replace(state, blocked_until=until))
        return until

    def back_off(self, endpoint: str, seconds: float) -> None:
        """Hold `endpoint` for `seconds` in this process (the platform's HTTP 403/429 throttle)."""
        self._backoff_until[endpoint] = self._clock.now() + timedelta(seconds=seconds)

    async def calls_today(self) -> dict[str, int]:
        """Requests sent today (account zone) per endpoint, by any process on this store."""
        today = self._clock.now().astimezone(self._zone).date()
        states = await self._store.load_endpoints()
        return {name: s.calls_on_day for name, s in sorted(states.items()) if s.day == today}
