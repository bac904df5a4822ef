"""A sliding-window log limiter, because REDEX counts requests in fixed windows of unknown phase.

A leaky bucket such as `aiolimiter.AsyncLimiter(5, 5)` lets its capacity through at once and
then keeps dripping, so an upstream fixed window can see nearly twice the limit. Here each
window keeps the send times of its last `limit` requests, and the next request goes only when
the oldest of them lies more than `period_s + margin_s` in the past. Two arrivals `limit` apart
are then at least a period apart, so no window of any phase holds more than `limit` of them,
as long as network jitter stays below the margin.
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass
from types import TracebackType

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
        """How long a send keeps its slot: the period plus the jitter margin."""
        margin = min(0.25, 0.05 * self.period_s) if self.margin_s is None else self.margin_s
        return self.period_s + margin


class WindowLimiter:
    """Admit requests in arrival order, never more than each window allows."""

    def __init__(self, *windows: Window, clock: Clock) -> None:
        if not windows:
            raise ValueError("a limiter needs at least one window")
        self._windows = windows
        self._sent: list[deque[float]] = [deque(maxlen=w.limit) for w in windows]
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
        longest = 0.0
        for window, sent in zip(self._windows, self._sent, strict=True):
            if len(sent) == window.limit:
                longest = max(longest, sent[0] + window.span_s - now)
        return longest

    async def acquire(self) -> None:
        """Wait for a slot in every window, then take it at the current instant."""
        async with self._lock:
            waited = False
            while (pause := self.delay()) > 0:
                if not waited:
                    self.waits += 1
                    waited = True
                self.waited_s += pause
                await self._clock.sleep(pause)
            now = self._clock.monotonic()
            for sent in self._sent:
                sent.append(now)

    async def __aenter__(self) -> None:
        await self.acquire()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None


def redex_limiter(settings: RedexSettings, clock: Clock) -> WindowLimiter:
    """The account's window from settings plus REDEX's per-IP window."""
    return WindowLimiter(
        Window(settings.rate_limit, settings.rate_period_s),
        Window(IP_LIMIT, IP_PERIOD_S),
        clock=clock,
    )
