"""`fusionbridge demo`: the whole job against the built-in simulators, on loopback, no credentials.

A newcomer's first command, so it runs the real code paths (the same runtime, jobs and daemon
as `run`) against the project's FusionSolar and REDEX simulators, and says what it did in a
few lines on stdout. Logs go to stderr, errors only unless FUSIONBRIDGE_LOG__LEVEL asks for more.
"""

from __future__ import annotations

import asyncio
import os
import socket
import sys
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO
from zoneinfo import ZoneInfo

from fusionbridge.app import Tuning, open_runtime
from fusionbridge.core.models import Month, SubmissionState
from fusionbridge.daemon.service import DaemonApp
from fusionbridge.daemon.status import InverterLines, ledger_status
from fusionbridge.daemon.systemd import Notifier
from fusionbridge.demo.oauth import oauth_keys, owner_approves
from fusionbridge.demo.output import DemoOutput
from fusionbridge.jobs.live import refresh_live
from fusionbridge.jobs.sync import sync
from fusionbridge.logs import configure_logging
from fusionbridge.retry import RetryPolicy
from fusionbridge.settings import Settings
from fusionbridge.simulator import redex as redex_sim
from fusionbridge.simulator.fleet import Fleet, FleetSpec
from fusionbridge.simulator.fusionsolar import FusionSolarSimulator, SimulatorConfig
from fusionbridge.simulator.redex import RedexSimulator

HOST = "127.0.0.1"
FLEET = FleetSpec(plants=5, inverters=10)
DAILY_INVERTER = "DEMO-CHIBA-DAILY"
"""Registered Daily at REDEX: its days go out through the batches endpoint (SPEC §11)."""
PACING_S = 0.1
"""Seconds between two calls to one FusionSolar endpoint (Huawei's real limit is a minute)."""
BACKFILL_MONTHS = 12
DEFAULT_ZONE = "Europe/Amsterdam"
TUNING = Tuning(
    fusionsolar_retry=RetryPolicy(attempts=3, wait_initial_s=0.1, wait_max_s=1.0, timeout_s=30),
    redex_poll_interval_s=0.1,
)
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


@dataclass(frozen=True)
class DemoWorld:
    """Both simulators on loopback and the [[inverters]] entries that point into the fleet."""

    fusionsolar: FusionSolarSimulator
    redex: RedexSimulator
    fusionsolar_url: str
    redex_url: str
    inverters: list[dict[str, Any]]


def demo_inverters(fleet: Fleet) -> list[dict[str, Any]]:
    """A handful of sources: by esn and by device id, both inverter types, a plant, four zones,
    and one inverter registered Daily beside the monthly ones."""
    plant = {p.zone.key: p for p in fleet.plants}
    chiba, campinas, long_an, utrecht = (
        plant[zone]
        for zone in ("Asia/Tokyo", "America/Sao_Paulo", "Asia/Ho_Chi_Minh", DEFAULT_ZONE)
    )
    return [
        {
            "remote_inv_id": "DEMO-CHIBA-1",
            "esn": fleet.inverters(chiba.code)[0].esn,
            "timezone": chiba.zone.key,
        },
        {
            "remote_inv_id": "DEMO-CAMPINAS-1",
            "device_id": fleet.inverters(campinas.code)[0].id,
            "timezone": campinas.zone.key,
        },
        {
            "remote_inv_id": "DEMO-LONGAN-2",
            "esn": fleet.inverters(long_an.code)[1].esn,
            "timezone": long_an.zone.key,
        },
        {"remote_inv_id": "DEMO-UTRECHT", "plant_code": utrecht.code},
        {
            "remote_inv_id": DAILY_INVERTER,
            "device_id": fleet.inverters(chiba.code)[1].id,
            "timezone": chiba.zone.key,
            "frequency": "daily",
        },
    ]


@asynccontextmanager
async def simulators() -> AsyncIterator[DemoWorld]:
    """Serve a small FusionSolar fleet and a REDEX account on ephemeral loopback ports."""
    fusionsolar = FusionSolarSimulator(
        SimulatorConfig(fleet=FLEET, window_s=PACING_S, window_slack_s=PACING_S / 2)
    )
    redex = RedexSimulator(rate_limit=10, rate_period_s=1.0)
    inverters = demo_inverters(fusionsolar.fleet)
    redex.register(*(e["remote_inv_id"] for e in inverters if e["remote_inv_id"] != DAILY_INVERTER))
    redex.register(DAILY_INVERTER, frequency="Daily")
    async with fusionsolar.serve(HOST) as fusionsolar_url, redex.serve(HOST) as redex_url:
        yield DemoWorld(fusionsolar, redex, fusionsolar_url, redex_url, inverters)


def demo_settings(world: DemoWorld, ledger: Path, port: int, *, oauth: bool = False) -> Settings:
    """The configuration a real install writes in TOML, built in code (no env, no files)."""
    sim = world.fusionsolar.config
    redex = world.redex
    account = {"username": sim.username, "system_code": sim.system_code}
    return Settings.model_validate(
        {
            "timezone": DEFAULT_ZONE,
            "fusionsolar": {
                "base_url": world.fusionsolar_url,
                **(oauth_keys(world.fusionsolar_url) if oauth else account),
                "min_interval_s": PACING_S,
                "timeout_s": 10,
            },
            "redex": {
                "base_url": world.redex_url,
                "client_id": redex_sim.CLIENT_ID,
                "client_secret": redex_sim.CLIENT_SECRET,
                "api_key": redex_sim.API_KEY,
                "rate_limit": redex.rate_limit,
                "rate_period_s": redex.rate_period_s,
                "timeout_s": 10,
            },
            # Day 1 at 00:00: every month is due the moment it closes, so the demo pushes them all.
            "schedule": {"push_day": 1, "push_at": "00:00"},
            "storage": {"path": str(ledger)},
            "http": {"host": HOST, "port": port},
            "inverters": world.inverters,
        }
    )


def available_port(port: int) -> int:
    """`port` when it can be bound on loopback, else 0 (the system picks a free one)."""
    if port == 0:
        return 0
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((HOST, port))
        except OSError:
            return 0
    return port


def all_accepted(lines: list[InverterLines], current: dict[str, Month]) -> bool:
    """Every closed month of every inverter is accepted by REDEX, and there is at least one."""
    closed = [m for inv in lines for m in inv.months if m.month < current[inv.remote_inv_id]]
    return bool(closed) and all(m.state is SubmissionState.ACCEPTED for m in closed)


async def run_demo(
    world: DemoWorld, *, once: bool, port: int, ledger_dir: Path, out: TextIO, oauth: bool = False
) -> int:
    """Backfill, let the daemon sync and push, show what REDEX accepted; serve or stop."""
    usable = available_port(port)
    settings = demo_settings(world, ledger_dir / "fusionbridge.db", usable, oauth=oauth)
    show = DemoOutput(out)
    fleet = f"{FLEET.plants} plants, {FLEET.inverters} inverters, {PACING_S:g} s between calls"
    show.header(world.fusionsolar_url, world.redex_url, fleet, settings)
    if oauth:  # SPEC §12: the simulated owner approves, as `fusionbridge authorize` would ask
        print(f"OAuth Connect: {await owner_approves(settings)}", file=out)
    async with open_runtime(settings, tuning=TUNING) as rt:
        zones = {e.remote_inv_id: e.entry().zone(settings.timezone) for e in settings.inverters}
        first = Month.containing(rt.clock.now(), ZoneInfo(DEFAULT_ZONE)).shift(1 - BACKFILL_MONTHS)
        started = rt.clock.monotonic()
        report = await sync(rt, first=first)
        last = first.shift(BACKFILL_MONTHS - 1)
        show.backfilled(first, last, report, rt.clock.monotonic() - started)
        await rt.ledger.jobs.started("live", rt.clock.now())  # the page's plant figures, at once
        await refresh_live(rt)
        await rt.ledger.jobs.finished("live", rt.clock.now(), True, None)
        started = rt.clock.monotonic()
        verdict: list[bool] = []

        async def after_job(job: str, ok: bool) -> None:
            if job != "push" or verdict:
                return
            now = rt.clock.now()
            current = {inv: Month.containing(now, zone) for inv, zone in zones.items()}
            lines = await ledger_status(settings, rt.ledger, now)
            verdict.append(ok and all_accepted(lines, current))
            show.cycle(lines, current, rt.clock.monotonic() - started, verdict[0])
            show.serving(app.port or usable, moved_from=port if usable != port else None, once=once)
            if once:
                app.stop()

        app = DaemonApp(
            rt, notifier=Notifier({}), push_wait_s=30, shutdown_grace_s=5, after_job=after_job
        )
        status = await app.serve(HOST, usable)
    if status != 0 or not once:
        show.stopped()
        return status
    return 0 if verdict and verdict[0] else 1


async def _main(once: bool, port: int, oauth: bool) -> int:
    with tempfile.TemporaryDirectory(prefix="fusionbridge-demo-") as tmp:
        async with simulators() as world:
            return await run_demo(
                world, once=once, port=port, ledger_dir=Path(tmp), out=sys.stdout, oauth=oauth
            )


def demo(*, once: bool, port: int, oauth: bool = False) -> int:
    """Entry point of `fusionbridge demo`; the exit status (0: everything was accepted)."""
    level = os.environ.get("FUSIONBRIDGE_LOG__LEVEL", "ERROR").upper()
    configure_logging("auto", level if level in LOG_LEVELS else "ERROR")
    try:
        return asyncio.run(_main(once, port, oauth))
    except KeyboardInterrupt:
        return 130
