"""Notifications reach a real webhook (Apprise `json://` to an aiohttp receiver on loopback):
each event exactly once, across a restart; a dead endpoint blocks nothing and is retried.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from fusionbridge.clock import VirtualClock
from fusionbridge.core.models import EnergyReading, Month, Plant, SourceKind, SourceRef
from fusionbridge.notify.dispatch import notify_events
from fusionbridge.settings import Settings
from fusionbridge.store import Ledger, Rejected, Sent
from tests.daemon_harness import World, running

REPO = Path(__file__).resolve().parent.parent

NOW = datetime(2026, 5, 10, 8, 0, tzinfo=UTC)
PLANTS = ("NE=1", "NE=2", "NE=3")


@dataclass
class Receiver:
    """A webhook that records every message; `hang` makes it accept and never answer."""

    url: str = ""
    messages: list[dict[str, Any]] = field(default_factory=list)
    hang: bool = False
    release: asyncio.Event = field(default_factory=asyncio.Event)

    def titles(self) -> list[str]:
        return sorted(m["title"] for m in self.messages)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    got = Receiver()

    async def hook(request: web.Request) -> web.Response:
        if got.hang:
            await got.release.wait()
            return web.Response(status=503)
        got.messages.append(await request.json())
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    port = runner.addresses[0][1]
    got.url = f"json://127.0.0.1:{port}/hook"
    try:
        yield got
    finally:
        got.release.set()
        await runner.cleanup()


def settings(storage: dict[str, str], urls: list[str], timeout_s: float = 5.0) -> Settings:
    return Settings.model_validate(
        {
            "timezone": "Europe/Amsterdam",
            "fusionsolar": {"username": "u", "system_code": "never-sent"},
            "redex": {"base_url": "http://127.0.0.1:9", "access_token": "never-sent"},
            "storage": storage,
            "notify": {"urls": urls, "timeout_s": timeout_s},
            "inverters": [
                {"remote_inv_id": f"RM-{n}", "plant_code": code}
                for n, code in enumerate(PLANTS, start=1)
            ],
        }
    )


def plant(code: str) -> SourceRef:
    return SourceRef(SourceKind.PLANT, code, "inverter_power")


async def standing_problems(ledger: Ledger) -> None:
    """A rejected month, a frozen month with drift, a deadline 21 days off, refused credentials."""
    await ledger.inventory.save([Plant(code, code) for code in PLANTS], [], NOW)
    old, march = Month(2025, 12), Month(2025, 3)  # 2025-03: deadline 2026-05-31, 21 days off
    start = NOW - timedelta(days=100)
    readings = [
        EnergyReading(plant(PLANTS[0]), old, Decimal("100"), "100", "inverter_power", start),
        EnergyReading(plant(PLANTS[1]), old, Decimal("200"), "200", "inverter_power", start),
        EnergyReading(plant(PLANTS[2]), march, Decimal("300"), "300", "inverter_power", start),
    ]
    await ledger.energy.save_readings(readings)
    request = await ledger.submissions.begin_request(
        [("RM-1", old, Decimal("100")), ("RM-2", old, Decimal("200"))], "[]", start
    )
    await ledger.submissions.finish_request(
        request, {("RM-1", old): Rejected("not registered"), ("RM-2", old): Sent(7)}, start
    )
    await ledger.submissions.record_processing(7, "Success", start)
    await ledger.submissions.set_drift("RM-2", old, Decimal("4.5"), start)
    await ledger.jobs.started("sync", NOW - timedelta(days=3))
    await ledger.jobs.finished("sync", NOW - timedelta(days=3), True, None)
    await ledger.jobs.started("sync", NOW - timedelta(hours=1))
    await ledger.jobs.finished(
        "sync", NOW - timedelta(hours=1), False, "fusionsolar refused the credentials: 20400"
    )


EXPECTED = [
    "fusionbridge: I-REC deadline for RM-3 2025-03 is in 21 days",
    "fusionbridge: RM-1 2025-12 rejected",
    "fusionbridge: RM-2 2025-12 changed after it was frozen",
    "fusionbridge: no successful sync for 2 days",
    "fusionbridge: sync stopped: credentials refused",
]


async def test_each_event_is_delivered_exactly_once_across_a_restart(
    ledger_storage: dict[str, str], receiver: Receiver
) -> None:
    config = settings(ledger_storage, [receiver.url])
    clock = VirtualClock(NOW)
    async with Ledger.open(config.storage, clock) as ledger:
        await standing_problems(ledger)
        first = await notify_events(config, ledger, clock)
        assert (first.delivered, first.failed) == (len(EXPECTED), 0)
        assert receiver.titles() == EXPECTED
        bodies = " ".join(m["message"] for m in receiver.messages)
        assert "RM-1 2025-12 is rejected: not registered" in bodies
        again = await notify_events(config, ledger, clock)
        assert (again.delivered, again.failed) == (0, 0)

    clock.advance(3600)
    async with Ledger.open(config.storage, clock) as ledger:  # a restart
        assert (await notify_events(config, ledger, clock)).delivered == 0
        assert receiver.titles() == EXPECTED
        # the same value refused again is the same incident; a new value refused is a new one
        old = Month(2025, 12)
        request = await ledger.submissions.begin_request(
            [("RM-1", old, Decimal("100"))], "[]", clock.now()
        )
        await ledger.submissions.finish_request(
            request, {("RM-1", old): Rejected("again")}, clock.now()
        )
        assert (await notify_events(config, ledger, clock)).delivered == 0
        request = await ledger.submissions.begin_request(
            [("RM-1", old, Decimal("101"))], "[]", clock.now()
        )
        await ledger.submissions.finish_request(
            request, {("RM-1", old): Rejected("still not")}, clock.now()
        )
        assert (await notify_events(config, ledger, clock)).delivered == 1
        assert (await notify_events(config, ledger, clock)).delivered == 0
    assert len(receiver.messages) == len(EXPECTED) + 1
    assert "still not" in receiver.messages[-1]["message"]


async def test_two_replicas_on_one_ledger_send_each_message_once(
    ledger_storage: dict[str, str], receiver: Receiver
) -> None:
    config = settings(ledger_storage, [receiver.url])
    clock = VirtualClock(NOW)
    async with (
        Ledger.open(config.storage, clock) as one,
        Ledger.open(config.storage, clock) as other,
    ):
        await standing_problems(one)
        rounds = await asyncio.gather(
            notify_events(config, one, clock), notify_events(config, other, clock)
        )
    assert sum(r.delivered for r in rounds) == len(EXPECTED)
    assert receiver.titles() == EXPECTED


async def test_without_urls_nothing_is_recorded(ledger_storage: dict[str, str]) -> None:
    config = settings(ledger_storage, [])
    clock = VirtualClock(NOW)
    async with Ledger.open(config.storage, clock) as ledger:
        await standing_problems(ledger)
        assert (await notify_events(config, ledger, clock)).delivered == 0
        assert await ledger.notifications.records() == []


async def test_a_dead_endpoint_blocks_nothing_and_is_retried_at_the_next_round(
    ledger_storage: dict[str, str], receiver: Receiver
) -> None:
    receiver.hang = True
    config = settings(ledger_storage, [receiver.url], timeout_s=0.3)
    clock = VirtualClock(NOW)
    async with Ledger.open(config.storage, clock) as ledger:
        await standing_problems(ledger)
        started = time.monotonic()
        round_ = await notify_events(config, ledger, clock)
        assert time.monotonic() - started < 5.0, "delivery must be bounded"
        assert (round_.delivered, round_.failed) == (0, len(EXPECTED))
        records = await ledger.notifications.records()
        assert {r.state for r in records} == {"failed"}
        assert all(r.last_error for r in records)
        assert receiver.messages == []

        # meanwhile the drift went away: its message would be stale and is not sent
        await ledger.submissions.set_drift("RM-2", Month(2025, 12), None, clock.now())
        receiver.hang = False
        receiver.release.set()
        healed = await notify_events(config, ledger, clock)
        assert (healed.delivered, healed.failed) == (len(EXPECTED) - 1, 0)
        assert (await notify_events(config, ledger, clock)).delivered == 0
    assert receiver.titles() == [t for t in EXPECTED if "frozen" not in t]


async def test_the_daemon_announces_after_its_jobs_even_with_a_dead_endpoint_and_restarts(
    world: World,
    tmp_path: Path,
    receiver: Receiver,
) -> None:
    fleet = world.fusionsolar.fleet
    unregistered = fleet.inverters(fleet.plants[0].code)[1].esn
    inverters = [
        {"remote_inv_id": "INV-A", "esn": fleet.inverters(fleet.plants[0].code)[0].esn},
        {"remote_inv_id": "INV-UNREGISTERED", "esn": unregistered},
    ]
    receiver.hang = True
    dead = world.settings(
        tmp_path, inverters=inverters, notify={"urls": [receiver.url], "timeout_s": 0.3}
    )
    async with running(dead, world.clock) as daemon:  # catch-up sync and push both end
        assert daemon.jobs_done == [("sync", True), ("push", True)]
        assert await daemon.json("/livez") == (200, {"status": "ok"})
        rejected = [
            n for n in await daemon.rt.ledger.notifications.records() if n.kind == "rejected"
        ]
        assert [n.state for n in rejected] == ["failed"]
        _, document = await daemon.json("/status")
        months = {
            (inv["remote_inv_id"], m["month"]): m
            for inv in document["inverters"]
            for m in inv["months"]
        }
        assert months[("INV-A", "2026-01")]["deadline"] is None  # accepted
        january = months[("INV-UNREGISTERED", "2026-01")]
        assert january["state"] == "rejected"
        assert january["deadline"] == "2027-05-31"
        assert january["deadline_days_left"] == 475  # from 2026-02-10
        _, metrics = await daemon.get("/metrics")
        assert 'fusionbridge_irec_deadline_days{remote_inv_id="INV-UNREGISTERED"} 475.0' in metrics
    assert receiver.messages == []

    receiver.hang = False
    receiver.release.set()
    world.clock.advance(86400)  # the next day: a sync is due at start, and push follows
    for _ in range(2):  # a restart, then another: the message goes out once
        async with running(dead, world.clock) as daemon:
            assert [ok for _, ok in daemon.jobs_done] == [True, True]
        world.clock.advance(86400)
    titles = [m["title"] for m in receiver.messages]
    assert titles == ["fusionbridge: INV-UNREGISTERED 2026-01 rejected"]


def notify_test(tmp_path: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    config = tmp_path / "fusionbridge.toml"
    config.write_text(
        """timezone = "Europe/Amsterdam"
[fusionsolar]
username = "u"
system_code = "never-sent"
[redex]
base_url = "http://127.0.0.1:9"
access_token = "never-sent"
"""
    )
    return subprocess.run(
        [sys.executable, "-m", "fusionbridge", "--config", str(config), "notify", "--test"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(REPO), **env},
    )


async def test_notify_test_sends_one_message_per_url_from_env_or_secrets_dir(
    tmp_path: Path, receiver: Receiver
) -> None:
    env = {"FUSIONBRIDGE_NOTIFY__URLS": json.dumps([receiver.url])}
    done = await asyncio.to_thread(notify_test, tmp_path, env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("ok    notify.urls[0]")
    assert receiver.url not in done.stdout + done.stderr
    assert [m["title"] for m in receiver.messages] == ["fusionbridge: test message"]

    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "notify__urls").write_text(json.dumps([receiver.url]))
    done = await asyncio.to_thread(
        notify_test, tmp_path, {"FUSIONBRIDGE_SECRETS_DIR": str(secrets)}
    )
    assert done.returncode == 0, done.stderr
    assert len(receiver.messages) == 2

    receiver.hang = True
    env["FUSIONBRIDGE_NOTIFY__TIMEOUT_S"] = "0.5"
    done = await asyncio.to_thread(notify_test, tmp_path, env)
    assert done.returncode == 1
    assert done.stdout.startswith("FAIL  notify.urls[0]")
    assert "Traceback" not in done.stderr

    none = await asyncio.to_thread(notify_test, tmp_path, {})
    assert none.returncode == 1
    assert "no notify.urls configured" in none.stderr
