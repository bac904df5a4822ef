"""The composed daemon: every endpoint healthy and failing, against both simulators on loopback.

Client and simulators share one VirtualClock, so Huawei's minute-long pacing costs no real time.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from structlog.testing import capture_logs

from fusionbridge import __version__
from fusionbridge.app import open_runtime
from fusionbridge.daemon.schedule import JobName
from fusionbridge.daemon.service import DaemonApp
from fusionbridge.daemon.systemd import Notifier
from tests.daemon_harness import (
    DEADLINE_S,
    FEBRUARY,
    JANUARY,
    NOW,
    SECRETS,
    World,
    running,
)


def assert_no_secret(*texts: str) -> None:
    for text in texts:
        for secret in SECRETS:
            assert secret not in text


def other_tasks() -> set[asyncio.Task[Any]]:
    return {t for t in asyncio.all_tasks() if t is not asyncio.current_task()}


async def tasks_left(before: set[asyncio.Task[Any]]) -> set[asyncio.Task[Any]]:
    """Tasks beyond `before` once the loop settled.

    A simulator's request handler ends a few loop turns after the daemon's client hung up; how
    many turns the ledger's close gives it depends on the backend (a thread hop for SQLite).
    """
    for _ in range(10):
        if not (left := other_tasks() - before):
            return left
        await asyncio.sleep(0)  # one loop turn, no waiting
    return other_tasks() - before


async def test_healthy_daemon_catches_up_and_answers_every_endpoint(
    world: World, tmp_path: Path
) -> None:
    before = other_tasks()
    settings = world.settings(tmp_path)
    async with running(settings, world.clock) as daemon:
        assert daemon.jobs_done == [("sync", True), ("push", True)]
        assert await daemon.json("/livez") == (200, {"status": "ok"})
        assert await daemon.json("/readyz") == (200, {"status": "ready"})

        status, document = await daemon.json("/status")
        assert status == 200
        assert document["version"] == __version__
        assert document["started_at"] == NOW.isoformat()
        assert document["next_sync_at"] == "2026-02-11T05:30:00+00:00"  # 06:30 in Amsterdam
        assert document["next_push_at"] == "2026-03-03T06:00:00+00:00"  # 3rd, 07:00 Amsterdam
        assert document["jobs"]["sync"]["runs"] == 1
        assert document["jobs"]["push"]["last_error"] is None
        assert (document["pending"], document["failed"]) == (0, 0)
        assert document["failing_checks"] == []
        assert document["fusionsolar_calls_today"]["getDevKpiMonth"] >= 1
        fleet = world.fusionsolar.fleet
        sources: dict[str, int] = {
            "INV-A": fleet.inverters(fleet.plants[0].code)[0].id,
            "INV-B": fleet.inverters(fleet.plants[1].code)[0].id,
        }
        for inverter in document["inverters"]:
            months = {m["month"]: m for m in inverter["months"]}
            january = world.fusionsolar.expected_month_kwh(
                sources[inverter["remote_inv_id"]], JANUARY
            )
            assert months[str(JANUARY)]["state"] == "accepted"
            assert months[str(JANUARY)]["kwh"] == f"{january:.3f}"
            assert months[str(FEBRUARY)]["state"] == "fetched"  # still open, not due
            assert world.redex.accepted[(inverter["remote_inv_id"], 2026, 1)] == january
        assert sorted(world.redex.accepted) == [("INV-A", 2026, 1), ("INV-B", 2026, 1)]

        status, metrics = await daemon.get("/metrics")
        assert status == 200
        assert 'fusionbridge_job_runs_total{account="default",job="sync"} 1.0' in metrics
        assert 'fusionbridge_job_runs_total{account="default",job="push"} 1.0' in metrics
        assert 'fusionbridge_submissions{state="accepted"} 2.0' in metrics
        assert 'fusionbridge_submissions{state="failed"} 0.0' in metrics
        assert 'api="fusionsolar",endpoint="getDevKpiMonth",outcome="ok"' in metrics
        assert 'api="redex",endpoint="monthly_data",outcome="201"' in metrics
        assert f'fusionbridge_build_info{{version="{__version__}"}} 1.0' in metrics
        assert (
            'fusionbridge_job_last_success_timestamp_seconds{account="default",job="sync"}'
            in metrics
        )
        assert_no_secret(json.dumps(document), metrics, (await daemon.get("/readyz"))[1])
        assert await daemon.stop() == 0
    assert await tasks_left(before) == set()


async def test_a_scheduled_sync_is_followed_by_a_push_of_what_became_due(
    world: World, tmp_path: Path
) -> None:
    settings = world.settings(tmp_path)
    async with running(settings, world.clock) as daemon:
        world.clock.set(datetime(2026, 3, 4, 5, 30, tzinfo=UTC))  # February is now due
        daemon.app.daemon.wake("sync")  # what the 06:30 trigger does; it never wakes push
        await daemon.wait_jobs(4)
        assert daemon.jobs_done[2:] == [("sync", True), ("push", True)]
        assert sorted(k for k in world.redex.accepted if k[2] == 2) == [
            ("INV-A", 2026, 2),
            ("INV-B", 2026, 2),
        ]


async def test_a_failed_sync_is_redone_at_start_and_a_good_one_is_not(
    world: World, tmp_path: Path
) -> None:
    settings = world.settings(tmp_path)
    async with open_runtime(settings, clock=world.clock) as rt:
        for job, at, ok in (
            ("sync", NOW - timedelta(days=1), True),
            ("push", datetime(2026, 2, 3, 11, tzinfo=UTC), True),  # after 07:00 in both zones
            ("sync", NOW - timedelta(hours=1), False),  # today's run failed
        ):
            await rt.ledger.jobs.started(job, at)
            await rt.ledger.jobs.finished(job, at, ok, None if ok else "upstream down")
        assert await DaemonApp(rt, notifier=Notifier({})).daemon.catch_up() == ["sync", "push"]
        at = NOW - timedelta(minutes=30)
        await rt.ledger.jobs.started("sync", at)
        await rt.ledger.jobs.finished("sync", at, True, None)
        assert await DaemonApp(rt, notifier=Notifier({})).daemon.catch_up() == []


async def test_refused_credentials_fail_readyz_without_stopping_or_retrying(
    world: World, tmp_path: Path
) -> None:
    wrong = "not-the-system-code"
    settings = world.settings(
        tmp_path,
        fusionsolar={
            "base_url": world.fusionsolar_url,
            "username": "api-user",
            "system_code": wrong,
        },
    )
    with capture_logs() as logs:
        async with running(settings, world.clock) as daemon:
            assert daemon.jobs_done == [("sync", False), ("push", False)]
            assert await daemon.json("/livez") == (200, {"status": "ok"})
            status, readiness = await daemon.json("/readyz")
            assert status == 503
            assert any(
                f.startswith("credentials: fusionsolar refused") for f in readiness["failing"]
            )
            assert "sync: no sync has succeeded yet" in readiness["failing"]
            _, document = await daemon.json("/status")
            assert "refused" in document["jobs"]["sync"]["last_error"]
            _, metrics = await daemon.get("/metrics")
            assert 'fusionbridge_job_failures_total{account="default",job="sync"} 1.0' in metrics
            assert_no_secret(json.dumps(document), json.dumps(readiness), metrics)
            for text in (json.dumps(document), json.dumps(readiness), metrics):
                assert wrong not in text
            assert await daemon.stop() == 0
    refused = [login for login in world.fusionsolar.logins if login[1] == "refused"]
    assert len(refused) == 1  # the push did not try the refused credentials again
    assert world.redex.accepted == {}
    failed = [e for e in logs if e["event"] == "job.failed"]
    assert [e["job"] for e in failed] == ["sync", "push"]
    assert all(e.get("credentials") == "fusionsolar" for e in failed)


async def test_livez_fails_while_shutting_down_with_a_job_in_flight(
    world: World, tmp_path: Path
) -> None:
    in_flight = asyncio.Event()
    release = asyncio.Event()

    async def hold_first_job(job: JobName, ok: bool) -> None:
        if not in_flight.is_set():
            in_flight.set()
            await release.wait()

    settings = world.settings(tmp_path)
    async with running(settings, world.clock, until=0, hook=hold_first_job) as daemon:
        await asyncio.wait_for(in_flight.wait(), DEADLINE_S)
        assert await daemon.json("/livez") == (200, {"status": "ok"})
        daemon.app.stop()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + DEADLINE_S
        while (await daemon.get("/livez"))[0] != 503:
            assert loop.time() < deadline, "/livez never went 503 while stopping"
            await asyncio.sleep(0)
        status, readiness = await daemon.json("/readyz")
        assert status == 503
        assert "scheduler: the scheduler is not running" in readiness["failing"]
        assert not daemon.served.done()  # the job in flight holds the shutdown
        release.set()
        assert await asyncio.wait_for(daemon.served, DEADLINE_S) == 0
    assert daemon.jobs_done == [("sync", True)]  # the queued push was not started


async def test_an_unusable_ledger_stops_the_daemon_with_status_1(
    world: World, tmp_path: Path
) -> None:
    settings = world.settings(tmp_path)
    async with running(settings, world.clock) as daemon:
        await daemon.rt.ledger.close()
        status, readiness = await daemon.json("/readyz")
        assert status == 503
        assert "ledger: the ledger cannot be used" in readiness["failing"]
        daemon.app.daemon.wake("sync")
        assert await asyncio.wait_for(daemon.served, DEADLINE_S) == 1
        assert daemon.app.fatal is not None
        assert not daemon.app.view.alive()


async def test_no_inverters_configured_still_serves_and_calls_nobody(
    world: World, tmp_path: Path
) -> None:
    settings = world.settings(tmp_path, inverters=[])
    with capture_logs() as logs:
        async with running(settings, world.clock) as daemon:
            assert await daemon.json("/readyz") == (200, {"status": "ready"})
            _, document = await daemon.json("/status")
            assert document["inverters"] == []
            assert document["counts"] == {}
            assert await daemon.stop() == 0
    assert world.fusionsolar.requests == []
    assert world.redex.requests == []
    assert any(e["event"] == "config.no_inverters" and e["work"] == "run" for e in logs)
