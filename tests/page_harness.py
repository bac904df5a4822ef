"""A ledger worth looking at, a daemon serving it, and a real headless chromium to look with.

The fleet is synced for 13 months and pushed through the real jobs against both simulators on
one VirtualClock; a troubled variant then gets a rejected, a held, a drifting month and a state
this version does not know, written straight into the ledger (as a newer version would).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from fusionbridge.app import Runtime
from fusionbridge.clock import VirtualClock
from fusionbridge.core.models import Month
from fusionbridge.daemon.service import DaemonApp
from fusionbridge.daemon.systemd import Notifier
from fusionbridge.jobs.live import refresh_live
from fusionbridge.jobs.push import push
from fusionbridge.jobs.sync import sync
from tests.pipeline_harness import Pipeline, serve_pipeline

NOW = datetime(2026, 11, 20, 11, 0, tzinfo=UTC)
CURRENT = Month(2026, 11)
FIRST = CURRENT.shift(-12)
CHROMIUM = shutil.which("chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
requires_chromium = pytest.mark.skipif(
    CHROMIUM is None,
    reason="chromium is not installed: `apt-get install -y chromium` (CI's .ci/run installs it)",
)
ARTIFACTS = Path(
    os.environ.get("FUSIONBRIDGE_TEST_ARTIFACTS", Path(__file__).resolve().parent.parent / "tmp")
)
"""Screenshots land here (git-ignored), so a person can look at what the test saw."""


def artifact(name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS / name


@dataclass(frozen=True)
class Trouble:
    """Which inverter-months the troubled fleet has spoiled, and how."""

    rejected: tuple[str, Month]
    held: tuple[str, Month]
    drifting: tuple[str, Month, Decimal]
    unknown: tuple[str, Month, str]


@dataclass
class Served:
    pipeline: Pipeline
    rt: Runtime
    app: DaemonApp
    base: str
    inverters: list[dict[str, Any]]
    clock: VirtualClock


async def fill_ledger(rt: Runtime) -> None:
    """13 months synced, every closed month pushed and accepted, live figures read once."""
    await rt.ledger.jobs.started("sync", rt.clock.now())
    await sync(rt, first=FIRST, last=CURRENT)
    await rt.ledger.jobs.finished("sync", rt.clock.now(), True, None)
    await rt.ledger.jobs.started("push", rt.clock.now())
    await push(rt, wait_s=30)
    await rt.ledger.jobs.finished("push", rt.clock.now(), True, None)
    await rt.ledger.jobs.started("live", rt.clock.now())
    await refresh_live(rt)
    await rt.ledger.jobs.finished("live", rt.clock.now(), True, None)


def spoil(db: Path, inverters: list[dict[str, Any]]) -> Trouble:
    """Write the troubles straight into the ledger, as another process or version would."""
    ids = [e["remote_inv_id"] for e in inverters]
    trouble = Trouble(
        rejected=(ids[0], CURRENT.shift(-2)),
        held=(ids[1], CURRENT.shift(-1)),
        drifting=(ids[2], CURRENT.shift(-7), Decimal("12.500")),
        unknown=(ids[3], CURRENT.shift(-3), "quarantined"),
    )
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA ignore_check_constraints = ON")  # `held` comes with a newer schema
        conn.execute(
            "UPDATE submissions SET state = 'rejected', last_error = ? WHERE remote_inv_id = ? "
            "AND month = ?",
            (
                f"[0].RemoteInvId: {trouble.rejected[0]} must send {{Daily}} generation data.",
                trouble.rejected[0],
                str(trouble.rejected[1]),
            ),
        )
        conn.execute(
            "UPDATE submissions SET state = 'held', last_error = ? WHERE remote_inv_id = ? "
            "AND month = ?",
            ("98,765.000 kWh is more than the plant can produce", *map(str, trouble.held)),
        )
        conn.execute(
            "UPDATE submissions SET state = ? WHERE remote_inv_id = ? AND month = ?",
            (trouble.unknown[2], trouble.unknown[0], str(trouble.unknown[1])),
        )
    return trouble


async def drift(rt: Runtime, inverter: str, month: Month, by: Decimal) -> None:
    """FusionSolar changes a frozen, accepted month: the next sync reads a new value."""
    from fusionbridge.jobs.sources import resolve

    resolution = await resolve(rt)
    source = next(r.source for r in resolution.inverters if r.target.remote_inv_id == inverter)
    readings = await rt.ledger.energy.monthly({source})
    old = readings[source, month]
    path = rt.ledger.location
    with sqlite3.connect(path) as conn:
        conn.execute(
            "UPDATE monthly_energy SET kwh = ? WHERE source = ? AND month = ?",
            (str(old.kwh + by), str(source), str(month)),
        )


@asynccontextmanager
async def served_fleet(
    ledger: Path | str, *, troubled: bool
) -> AsyncIterator[tuple[Served, Trouble | None]]:
    """A daemon serving a filled ledger on loopback, its scheduler up, no job queued.

    The troubled fleet is written straight into a SQLite file (a newer version's states pass
    its CHECK constraints only with `ignore_check_constraints`): it needs `ledger` to be a path.
    """
    clock = VirtualClock(NOW)
    async with serve_pipeline(ledger, clock) as pipeline:
        inverters = pipeline.mixed_inverters()
        pipeline.redex.register(*(e["remote_inv_id"] for e in inverters))
        settings = pipeline.settings(
            inverters,
            schedule={"push_day": 1, "push_at": "00:00"},
            live={"interval_min": 60},
            http={"host": "127.0.0.1", "port": 0},
        )
        async with pipeline.runtime(settings, clock) as rt:
            await fill_ledger(rt)
            trouble = None
            if troubled:
                assert isinstance(pipeline.ledger, Path), "troubles are written into SQLite"
                trouble = spoil(pipeline.ledger, inverters)
                await drift(rt, *trouble.drifting)
            app = DaemonApp(rt, notifier=Notifier({}))
            ready: asyncio.Future[int] = asyncio.get_running_loop().create_future()

            async def on_ready(port: int) -> None:
                ready.set_result(port)

            serving = asyncio.create_task(app.serve("127.0.0.1", 0, on_ready=on_ready))
            try:
                port = await asyncio.wait_for(ready, 10)
                yield (
                    Served(pipeline, rt, app, f"http://127.0.0.1:{port}", inverters, clock),
                    trouble,
                )
            finally:
                app.stop()
                await asyncio.wait_for(serving, 10)
