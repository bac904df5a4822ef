"""A sliding-window log limiter, because REDEX counts requests in fixed windows of unknown phase.

A leaky bucket such as `aiolimiter.AsyncLimiter(5, 5)` lets its capacity through at once and
then keeps dripping, so an upstream fixed window can see nearly twice the limit. Here every
request leaves a stamp, and a new one goes only while fewer than `limit` stamps lie within
`period_s + margin_s` of now. A stamp starts as the send time; once the answer is back
(`release`), it moves to the answer's arrival, which is after the request reached upstream.
So no fixed window of any phase sees more than `limit` requests: exactly for answered
requests, and for requests still in flight as long as their network delay stays below the margin.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from fusionbridge.clock import Clock
from fusionbridge.settings import RedexSettings

IP_LIMIT = 3000
IP_PERIOD_S = 300.0
"""REDEX's global limit per client IP: 3000 requests per 5 minutes."""


@dataclass(frozen=True, slots=True)
class Window:
    """At most `limit` requests in any `period_s`; `margin_s` absorbs network jitter."""

    limit: int
    period_s: float
    margin_s: float | None = None

    def __post_init__(self) -> None:
        if self.limit < 1 or self.period_s <= 0:
            raise ValueError("a window needs limit >= 1 and period_s > 0")
        if self.margin_s is not None and self.margin_s < 0:
            raise ValueError("margin_s must not be negative")

    @property
    def span_s(self) -> float:
        """How long a stamp keeps its slot: the period plus the jitter margin."""
        margin = min(0.25, 0.05 * self.period_s) if self.margin_s is None else self.margin_s
        return self.period_s + margin


class Slot:
    """One admitted request: its stamp, and whether its answer is still outstanding."""

    __slots__ = ("at", "open", "outer")

    def __init__(self, at: float, outer: Slot | None = None) -> None:
        self.at = at
        self.open = True
        self.outer = outer


class WindowLimiter:
    """Admit requests in arrival order, never more than each window allows."""

    def __init__(self, *windows: Window, clock: Clock, parent: WindowLimiter | None = None) -> None:
        if not windows:
            raise ValueError("a limiter needs at least one window")
        self._windows = windows
        self._parent = parent  # a window shared with other limiters: REDEX's per-IP limit
        self._longest_s = max(w.span_s for w in windows)
        self._slots: list[Slot] = []
        self._clock = clock
        self._lock = asyncio.Lock()  # FIFO: waiters are admitted in the order they came
        self.waits = 0
        self.waited_s = 0.0

    @property
    def windows(self) -> tuple[Window, ...]:
        return self._windows

    def delay(self) -> float:
        """Seconds until the next request may go (0 when it may go now)."""
        now = self._clock.monotonic()
        self._slots = [s for s in self._slots if s.open or s.at + self._longest_s > now]
        longest = 0.0
        for window in self._windows:
            recent = sorted(s.at for s in self._slots if s.at + window.span_s > now)
            excess = len(recent) - window.limit
            if excess >= 0:
                longest = max(longest, recent[excess] + window.span_s - now)
        return longest

    async def acquire(self) -> Slot:
        """Wait until every window has room, then stamp a slot with the current instant."""
        async with self._lock:
            waited = False
            while (pause := self.delay()) > 0:
                if not waited:
                    self.waits += 1
                    waited = True
                self.waited_s += pause
                await self._clock.sleep(pause)
            # our own room first, then the shared window's; stamped once both let it go
            outer = None if self._parent is None else await self._parent.acquire()
            slot = Slot(self._clock.monotonic(), outer)
            self._slots.append(slot)
            return slot

    def release(self, slot: Slot) -> None:
        """The answer is back (or the request was never sent): restamp the slot with now."""
        if slot.open:
            slot.at = max(slot.at, self._clock.monotonic())
            slot.open = False
            if slot.outer is not None and self._parent is not None:
                self._parent.release(slot.outer)

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[Slot]:
        """Hold a slot for one request: acquired on entry, released when the answer is back."""
        taken = await self.acquire()
        try:
            yield taken
        finally:
            self.release(taken)


def redex_limiter(
    settings: RedexSettings, clock: Clock, ip: WindowLimiter | None = None
) -> WindowLimiter:
    """The business account's window from settings plus REDEX's per-IP window.

    A process serving several REDEX business accounts passes the one `ip_limiter` they share.
    """
    if ip is None:
        return WindowLimiter(
            Window(settings.rate_limit, settings.rate_period_s),
            Window(IP_LIMIT, IP_PERIOD_S),
            clock=clock,
        )
    return WindowLimiter(
        Window(settings.rate_limit, settings.rate_period_s), clock=clock, parent=ip
    )


def ip_limiter(clock: Clock) -> WindowLimiter:
    """REDEX's per-IP window, shared by every business account one process serves."""
    return WindowLimiter(Window(IP_LIMIT, IP_PERIOD_S), clock=clock)
