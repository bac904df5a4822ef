"""The composition root of one process: ledger, HTTP sessions and clients, closed in order."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from typing import Protocol

from fusionbridge.clock import Clock, SystemClock
from fusionbridge.daemon.metrics import Metrics
from fusionbridge.errors import ConfigError
from fusionbridge.fusionsolar import client as fusionsolar_client
from fusionbridge.fusionsolar.client import FusionSolarClient
from fusionbridge.redex import client as redex_client
from fusionbridge.redex.client import RedexClient
from fusionbridge.retry import RetryPolicy
from fusionbridge.settings import Settings
from fusionbridge.store import Ledger


@dataclass(frozen=True)
class Tuning:
    """Knobs that are not configuration: retry patience and REDEX poll spacing (demo, tests)."""

    fusionsolar_retry: RetryPolicy | None = None
    redex_retry: RetryPolicy | None = None
    redex_poll_interval_s: float = 2.0


class LeaseGuard(Protocol):
    """The account lease as the jobs see it: checked before every upstream write."""

    def ensure(self) -> None: ...


@dataclass
class Runtime:
    """Everything a command or the daemon works with, owned by `open_runtime`."""

    settings: Settings
    clock: Clock
    ledger: Ledger
    fusionsolar: FusionSolarClient
    redex: RedexClient
    metrics: Metrics = field(default_factory=Metrics)
    lease: LeaseGuard | None = None


@asynccontextmanager
async def open_runtime(
    settings: Settings,
    *,
    clock: Clock | None = None,
    metrics: Metrics | None = None,
    tuning: Tuning | None = None,
) -> AsyncIterator[Runtime]:
    """Open the ledger and both clients; on exit close the sessions, then the ledger."""
    clock = clock or SystemClock()
    metrics = metrics or Metrics()
    tuning = tuning or Tuning()
    async with AsyncExitStack() as stack:
        ledger = await stack.enter_async_context(Ledger.open(settings.storage, clock))
        try:
            fs_session = fusionsolar_client.make_session(settings.fusionsolar_settings())
        except OSError as exc:
            raise ConfigError(
                [f"fusionsolar.ca_bundle: cannot use it ({exc.strerror or exc})"]
            ) from None
        await stack.enter_async_context(fs_session)
        rx_session = await stack.enter_async_context(
            redex_client.make_session(settings.redex_settings())
        )
        fusionsolar = FusionSolarClient(
            fs_session,
            settings.fusionsolar_settings(),
            ledger.pacing,
            oauth_store=ledger.oauth,
            clock=clock,
            zone=settings.zone(),
            on_request=lambda endpoint, outcome: metrics.record_request(
                "fusionsolar", endpoint, outcome
            ),
            retry=tuning.fusionsolar_retry,
        )
        redex = RedexClient(
            rx_session,
            settings.redex_settings(),
            clock=clock,
            on_request=lambda endpoint, outcome: metrics.record_request("redex", endpoint, outcome),
            retry=tuning.redex_retry,
            poll_interval_s=tuning.redex_poll_interval_s,
        )
        yield Runtime(settings, clock, ledger, fusionsolar, redex, metrics)
