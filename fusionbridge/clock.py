"""The only source of time: the real clock for the daemon, a virtual one for tests and benches."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    """Wall time for decisions, monotonic time for pacing, and a sleep that honours both."""

    def now(self) -> datetime:
        """The current aware UTC instant."""
        ...

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait `seconds` on this clock."""
        ...


class SystemClock:
    """The machine's clock."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


class VirtualClock:
    """A clock that jumps instead of waiting, so pacing over minutes is tested in microseconds.

    `sleep` advances the clock by the asked amount and yields once to the loop; `slept` records
    every wait, which lets tests assert how long real time would have taken.
    """

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("VirtualClock needs an aware start time")
        self._now = start.astimezone(UTC)
        self._mono = 0.0
        self.slept: list[float] = []

    def now(self) -> datetime:
        return self._now

    def monotonic(self) -> float:
        return self._mono

    def advance(self, seconds: float) -> None:
        """Move time forward without sleeping."""
        if seconds > 0:
            self._now += timedelta(seconds=seconds)
            self._mono += seconds

    def set(self, instant: datetime) -> None:
        """Jump wall time to `instant` (forward only)."""
        self.advance((instant - self._now).total_seconds())

    async def sleep(self, seconds: float) -> None:
        self.slept.append(max(0.0, seconds))
        self.advance(seconds)
        await asyncio.sleep(0)
