"""A composed daemon against both simulators on loopback, sharing one VirtualClock."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp

from fusionbridge.app import Runtime, open_fleet
from fusionbridge.clock import VirtualClock
from fusionbridge.core.models import Month
from fusionbridge.daemon.schedule import JobName
from fusionbridge.daemon.service import DaemonApp
from fusionbridge.daemon.systemd import Notifier
from fusionbridge.settings import Settings
from fusionbridge.simulator import redex as redex_sim
from fusionbridge.simulator.fleet import FleetSpec
from fusionbridge.simulator.fusionsolar import FusionSolarSimulator, SimulatorConfig
from fusionbridge.simulator.redex import RedexSimulator

NOW = datetime(2026, 2, 10, 12, 0, tzinfo=UTC)
JANUARY, FEBRUARY = Month(2026, 1), Month(2026, 2)
SYSTEM_CODE = "sim-system-code"
SECRETS = (SYSTEM_CODE, redex_sim.CLIENT_SECRET, redex_sim.API_KEY, "sim-access-", "sim-refresh-")
DEADLINE_S = 10.0


@dataclass
class World:
    clock: VirtualClock
    fusionsolar: FusionSolarSimulator
    redex: RedexSimulator
    fusionsolar_url: str
    redex_url: str
    ledger_url: str | None = None
    """The PostgreSQL ledger under test; None for a SQLite file in the test's directory."""

    def settings(self, tmp_path: Path, **overrides: Any) -> Settings:
        """The daemon's settings; a `storage` override is merged into the ledger's section."""
        storage: dict[str, Any] = {"path": str(tmp_path / "ledger.db")}
        if self.ledger_url is not None:
            storage["url"] = self.ledger_url
        storage |= overrides.pop("storage", {})
        fleet = self.fusionsolar.fleet
        amsterdam, sao_paulo = fleet.plants
        values: dict[str, Any] = {
            "timezone": "Europe/Amsterdam",
            "fusionsolar": {
                "base_url": self.fusionsolar_url,
                "username": "api-user",
                "system_code": SYSTEM_CODE,
            },
            "redex": {
                "base_url": self.redex_url,
                "client_id": redex_sim.CLIENT_ID,
                "client_secret": redex_sim.CLIENT_SECRET,
                "api_key": redex_sim.API_KEY,
            },
            "storage": storage,
            "http": {"host": "127.0.0.1", "port": 0},
            "inverters": [
                {"remote_inv_id": "INV-A", "esn": fleet.inverters(amsterdam.code)[0].esn},
                {
                    "remote_inv_id": "INV-B",
                    "device_id": fleet.inverters(sao_paulo.code)[0].id,
                    "timezone": "America/Sao_Paulo",
                },
            ],
        }
        return Settings.model_validate(values | overrides)


@asynccontextmanager
async def served_world(*, ledger_url: str | None = None) -> AsyncIterator[World]:
    """Both simulators on loopback with two inverters' worth of fleet, at NOW on a virtual clock."""
    clock = VirtualClock(NOW)
    fusionsolar = FusionSolarSimulator(
        SimulatorConfig(clock=clock, fleet=FleetSpec(plants=2, inverters=4), window_s=60)
    )
    redex = RedexSimulator(clock=clock)
    redex.register("INV-A", "INV-B")
    async with fusionsolar.serve() as url, redex.serve() as redex_url:
        yield World(clock, fusionsolar, redex, url, redex_url, ledger_url)


@dataclass
class Running:
    app: DaemonApp
    rt: Runtime
    base: str
    http: aiohttp.ClientSession
    served: asyncio.Task[int]
    jobs_done: list[tuple[JobName, bool]]
    job_ended: asyncio.Event

    async def wait_jobs(self, count: int) -> None:
        async with asyncio.timeout(DEADLINE_S):
            while len(self.jobs_done) < count:
                self.job_ended.clear()
                await self.job_ended.wait()

    async def get(self, path: str) -> tuple[int, str]:
        async with self.http.get(self.base + path) as answer:
            return answer.status, await answer.text()

    async def json(self, path: str) -> tuple[int, Any]:
        status, text = await self.get(path)
        return status, json.loads(text)

    async def stop(self) -> int:
        self.app.stop()
        return await asyncio.wait_for(self.served, DEADLINE_S)


AfterJob = Callable[[JobName, bool], Awaitable[None]]


@asynccontextmanager
async def running(
    settings: Settings, clock: VirtualClock, *, until: int = 2, hook: AfterJob | None = None
) -> AsyncIterator[Running]:
    """Serve a DaemonApp on loopback; yield once `until` jobs (catch-up sync and push) ended."""
    done: list[tuple[JobName, bool]] = []
    ended = asyncio.Event()
    ready: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    async def after_job(job: JobName, ok: bool) -> None:
        done.append((job, ok))
        ended.set()
        if hook is not None:
            await hook(job, ok)

    async def on_ready(port: int) -> None:
        ready.set_result(port)

    async with open_fleet(settings, clock=clock) as fleet, aiohttp.ClientSession() as http:
        rt = fleet.accounts[0]
        app = DaemonApp(fleet, notifier=Notifier({}), after_job=after_job)
        served = asyncio.create_task(app.serve("127.0.0.1", 0, on_ready=on_ready))
        try:
            port = await asyncio.wait_for(ready, DEADLINE_S)
            daemon = Running(app, rt, f"http://127.0.0.1:{port}", http, served, done, ended)
            await daemon.wait_jobs(until)
            yield daemon
        finally:
            if not served.done():
                app.stop()
                await asyncio.wait_for(served, DEADLINE_S)
