"""How hard to insist with an upstream: one policy type for FusionSolar and REDEX alike.

Transient failures are retried with stamina's exponential backoff and jitter, within a number
of attempts and a total time; rate-limit answers (FusionSolar 407, REDEX 429) are waited out a
bounded number of times; platform throttles back off exponentially up to a cap.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import stamina

from fusionbridge.errors import TransientError

RetryOn = type[Exception] | Callable[[Exception], bool]


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Backoff for transient failures, patience for rate limits, back-off for throttles."""

    attempts: int = 4
    timeout_s: float = 600.0
    wait_initial_s: float = 2.0
    wait_max_s: float = 60.0
    wait_jitter_s: float = 1.0
    rate_limit_retries: int = 3
    throttle_backoff_s: float = 60.0
    throttle_backoff_max_s: float = 900.0

    def transient(self, on: RetryOn = TransientError) -> AsyncIterator[stamina.Attempt]:
        """Retry what `on` accepts with exponential backoff and jitter, within attempts and time."""
        return aiter(
            stamina.retry_context(
                on=on,
                attempts=self.attempts,
                timeout=self.timeout_s,
                wait_initial=self.wait_initial_s,
                wait_max=self.wait_max_s,
                wait_jitter=self.wait_jitter_s,
            )
        )

    def throttle_wait(self, streak: int) -> float:
        """Back-off after the `streak`-th platform throttle in a row: 60 s, 120 s, ... capped."""
        return min(self.throttle_backoff_s * 2.0 ** (streak - 1), self.throttle_backoff_max_s)


FUSIONSOLAR_RETRY = RetryPolicy()
"""Huawei: few, slow calls; a 407 costs a minute, so a few waits are plenty."""
REDEX_RETRY = RetryPolicy(
    attempts=5, timeout_s=120.0, wait_initial_s=1.0, wait_max_s=30.0, rate_limit_retries=10
)
"""REDEX: a 429 clears within its 5 s window, so waiting it out up to ten times is cheap."""
