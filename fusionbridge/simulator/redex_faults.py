"""What a test scripts into the REDEX simulator, and what the simulator records of each request."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Fault:
    """One scripted answer: wait `delay_s` (real time), then answer `status` with `body`.

    `status=None` answers normally after the delay (a slow response); `drop` closes the
    connection without an answer (a reset). `late` handles the request at once (REDEX takes the
    data) and only the answer comes `delay_s` later: a client that gave up never hears of it.
    `gate` holds the request until the test sets it, for overlaps that must not depend on timing.
    """

    status: int | None = 503
    body: str = '{"Data": null, "Errors": null, "StatusCode": 503, "Message": "injected"}'
    content_type: str = "application/json"
    headers: Mapping[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    drop: bool = False
    late: bool = False
    gate: asyncio.Event | None = field(default=None, compare=False)

    @classmethod
    def slow(cls, delay_s: float) -> Fault:
        return cls(status=None, delay_s=delay_s)

    @classmethod
    def late_answer(cls, delay_s: float) -> Fault:
        return cls(status=None, delay_s=delay_s, late=True)

    @classmethod
    def held_until(cls, gate: asyncio.Event) -> Fault:
        return cls(status=None, gate=gate)

    @classmethod
    def reset(cls) -> Fault:
        return cls(drop=True)


@dataclass(frozen=True, slots=True)
class ReceivedRequest:
    """A request as the simulator saw it: which endpoint, when (clock.monotonic), what answer.

    `status` is 0 while the answer is still being made, and when the connection was dropped.
    """

    endpoint: str
    arrived_at: float
    status: int
    body: Any = None
    raw: bytes = field(default=b"", repr=False)
    """The request body byte for byte, as it arrived."""
    bearer: str = field(default="", repr=False)
    """The bearer token it carried: which client (process) sent it, for counting grants."""
