"""The composition root of one process: one ledger, and per account its clients, closed in order.

A process serves one account or many (SPEC §14). Every account gets its own FusionSolar
session, pacing, login or tokens (through its account-scoped view of the ledger); accounts
that share REDEX credentials share one REDEX limiter and token, and every REDEX business
account the process serves shares REDEX's per-IP window.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Protocol

from fusionbridge.clock import Clock, SystemClock
from fusionbridge.daemon.metrics import Metrics
from fusionbridge.errors import ConfigError
from fusionbridge.fusionsolar import client as fusionsolar_client
from fusionbridge.fusionsolar.client import FusionSolarClient
from fusionbridge.redex import client as redex_client
from fusionbridge.redex.client import RedexClient
from fusionbridge.redex.limiter import WindowLimiter, ip_limiter, redex_limiter
from fusionbridge.retry import RetryPolicy
from fusionbridge.settings import Settings
from fusionbridge.store import Ledger

if TYPE_CHECKING:
    from fusionbridge.jobs.redex_gate import RedexGate


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
    """One account's world: its settings view, its ledger view and its clients."""

    settings: Settings
    clock: Clock
    ledger: Ledger
    fusionsolar: FusionSolarClient
    redex: RedexClient
    metrics: Metrics = field(default_factory=Metrics)
    lease: LeaseGuard | None = None
    redex_gate: RedexGate | None = None
    """The REDEX business account's gate, shared with the accounts of the same credentials."""

    @property
    def account(self) -> str:
        return self.settings.account


@dataclass
class Fleet:
    """Every account one process serves, over one ledger and one metrics registry."""

    settings: Settings
    clock: Clock
    ledger: Ledger
    metrics: Metrics
    accounts: tuple[Runtime, ...]

    def runtime(self, account: str) -> Runtime:
        return next(rt for rt in self.accounts if rt.account == account)

    @cached_property
    def view(self) -> Settings:
        """The settings as the page, /status and notifications show them: every account's inverters."""
        return fleet_view(self.settings)


def fleet_view(settings: Settings) -> Settings:
    """`settings` with every served account's inverters listed as its own (for showing, not jobs)."""
    if not settings.accounts:
        return settings
    return settings.model_copy(update={"inverters": settings.all_inverters()})


def one_account_fleet(rt: Runtime) -> Fleet:
    """A fleet of the one account a runtime serves (a one-account process, tests, the demo)."""
    return Fleet(rt.settings, rt.clock, rt.ledger, rt.metrics, (rt,))


@asynccontextmanager
async def open_fleet(
    settings: Settings,
    *,
    accounts: Sequence[str] | None = None,
    clock: Clock | None = None,
    metrics: Metrics | None = None,
    tuning: Tuning | None = None,
) -> AsyncIterator[Fleet]:
    """Open the ledger, then every account's clients; on exit close sessions, then the ledger."""
    clock = clock or SystemClock()
    metrics = metrics or Metrics()
    tuning = tuning or Tuning()
    names = list(accounts) if accounts is not None else settings.account_names()
    views = [settings.for_account(name) for name in names]
    async with AsyncExitStack() as stack:
        ledger = await stack.enter_async_context(Ledger.open(settings.storage, clock))
        from fusionbridge.jobs.redex_gate import RedexGate  # jobs import this module

        shared_ip = ip_limiter(clock) if len(views) > 1 else None
        redex_of: dict[str, RedexClient] = {}
        gates: dict[str, RedexGate] = {}
        runtimes = []
        for view in views:
            scoped = ledger.for_account(view.account)
            fusionsolar = await _fusionsolar(stack, view, scoped, clock, metrics, tuning)
            key = view.redex_key()
            hook = _hook(metrics, "redex", view.account)
            if key in redex_of:
                redex = redex_of[key].sharing(hook)
            else:
                redex = redex_of[key] = await _redex(stack, view, clock, hook, tuning, shared_ip)
            gate = gates.setdefault(key, RedexGate(key))
            runtimes.append(
                Runtime(view, clock, scoped, fusionsolar, redex, metrics, redex_gate=gate)
            )
        yield Fleet(settings, clock, ledger, metrics, tuple(runtimes))


@asynccontextmanager
async def open_runtime(
    settings: Settings,
    *,
    clock: Clock | None = None,
    metrics: Metrics | None = None,
    tuning: Tuning | None = None,
) -> AsyncIterator[Runtime]:
    """One account's runtime: `settings` is its view (`for_account`) or a one-account config."""
    view = settings if not settings.accounts else settings.for_account(settings.account)
    async with open_fleet(
        view, accounts=[view.account], clock=clock, metrics=metrics, tuning=tuning
    ) as fleet:
        yield fleet.accounts[0]


def _hook(metrics: Metrics, api: str, account: str) -> redex_client.RequestHook:
    def record(endpoint: str, outcome: str) -> None:
        metrics.record_request(api, endpoint, outcome, account)

    return record


async def _fusionsolar(
    stack: AsyncExitStack,
    view: Settings,
    ledger: Ledger,
    clock: Clock,
    metrics: Metrics,
    tuning: Tuning,
) -> FusionSolarClient:
    fs = view.fusionsolar_settings()
    try:
        session = fusionsolar_client.make_session(fs)
    except OSError as exc:
        where = (
            "fusionsolar" if view.account == "default" else f"accounts.{view.account}.fusionsolar"
        )
        raise ConfigError([f"{where}.ca_bundle: cannot use it ({exc.strerror or exc})"]) from None
    await stack.enter_async_context(session)
    return FusionSolarClient(
        session,
        fs,
        ledger.pacing,
        oauth_store=ledger.oauth,
        clock=clock,
        zone=view.zone(),
        on_request=_hook(metrics, "fusionsolar", view.account),
        retry=tuning.fusionsolar_retry,
    )


async def _redex(
    stack: AsyncExitStack,
    view: Settings,
    clock: Clock,
    hook: redex_client.RequestHook,
    tuning: Tuning,
    shared_ip: WindowLimiter | None,
) -> RedexClient:
    rx = view.redex_settings()
    session = await stack.enter_async_context(redex_client.make_session(rx))
    limiter = redex_limiter(rx, clock, shared_ip)
    return RedexClient(
        session,
        rx,
        clock=clock,
        limiter=limiter,
        on_request=hook,
        retry=tuning.redex_retry,
        poll_interval_s=tuning.redex_poll_interval_s,
    )
