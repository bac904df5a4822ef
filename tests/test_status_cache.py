"""/status under load (SPEC §10): its parameters, and a document built once per ledger change.

Over real HTTP to a composed daemon whose catch-up ran against both simulators on loopback.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from fusionbridge.core.models import ScheduleRules
from fusionbridge.daemon.status_cache import StatusQuery, next_calendar_change, parse_query
from fusionbridge.store import Ledger
from tests.daemon_harness import FEBRUARY, JANUARY, Running, World, running

AMSTERDAM = ZoneInfo("Europe/Amsterdam")
SAO_PAULO = ZoneInfo("America/Sao_Paulo")


def months_of(document: dict[str, Any]) -> dict[str, list[str]]:
    return {
        inv["remote_inv_id"]: [m["month"] for m in inv["months"]] for inv in document["inverters"]
    }


async def test_months_and_inverter_narrow_the_document(world: World, tmp_path: Path) -> None:
    async with running(world.settings(tmp_path), world.clock) as daemon:
        status, document = await daemon.json("/status")
        assert status == 200
        assert document["months"] == 3
        assert months_of(document) == {
            "INV-A": [str(JANUARY), str(FEBRUARY)],
            "INV-B": [str(JANUARY), str(FEBRUARY)],
        }
        assert document["counts"] == {"accepted": 2, "fetched": 2}

        status, latest = await daemon.json("/status?months=1")
        assert status == 200
        assert months_of(latest) == {"INV-A": [str(FEBRUARY)], "INV-B": [str(FEBRUARY)]}
        assert latest["counts"] == {"fetched": 2}

        status, one = await daemon.json("/status?inverter=INV-B&months=13")
        assert status == 200
        assert months_of(one) == {"INV-B": [str(JANUARY), str(FEBRUARY)]}
        assert (one["counts"], one["pending"], one["failed"]) == (
            {"accepted": 1, "fetched": 1},
            0,
            0,
        )
        assert one["jobs"]["sync"]["runs"] == 1
        assert one["fusionsolar_calls_today"] == document["fusionsolar_calls_today"]
        assert await daemon.stop() == 0


@pytest.mark.parametrize(
    ("query", "complaint"),
    [
        ("months=0", "months must be a whole number from 1 to 120, not '0'"),
        ("months=121", "months must be a whole number from 1 to 120, not '121'"),
        ("months=three", "months must be a whole number from 1 to 120, not 'three'"),
        ("months=-1", "months must be a whole number from 1 to 120, not '-1'"),
        ("months=", "months must be a whole number from 1 to 120, not ''"),
        ("inverter=INV-Z", "inverter 'INV-Z' is not a configured remote_inv_id"),
        ("months=2&months=3", "months is given more than once"),
        ("month=2", "unknown parameter 'month': /status takes months and inverter"),
    ],
)
async def test_bad_parameters_get_400_with_one_line(
    world: World, tmp_path: Path, query: str, complaint: str
) -> None:
    async with running(world.settings(tmp_path), world.clock) as daemon:
        status, text = await daemon.get(f"/status?{query}")
        assert status == 400
        assert json.loads(text) == {"error": complaint}
        assert "\n" not in text
        assert await daemon.stop() == 0


async def get_twice(daemon: Running, path: str) -> tuple[str, str]:
    first, second = (await daemon.get(path))[1], (await daemon.get(path))[1]
    return first, second


async def test_the_document_is_rebuilt_only_when_the_ledger_or_the_calendar_moved(
    world: World, tmp_path: Path
) -> None:
    settings = world.settings(tmp_path)
    async with running(settings, world.clock) as daemon:
        cache = daemon.app.view.cache
        assert cache.builds == 0  # nothing is built before somebody asks
        first, again = await get_twice(daemon, "/status")
        assert first == again
        assert cache.builds == 1
        query = StatusQuery()
        assert await cache.body(query) is await cache.body(query)  # the same bytes, not a copy
        assert cache.builds == 1

        # a burst of requests after a change of this process's ledger: one build for all of them
        await daemon.rt.ledger.jobs.started("push", world.clock.now())
        answers = await asyncio.gather(*(daemon.json("/status") for _ in range(20)))
        assert cache.builds == 2
        assert {json.dumps(document) for _, document in answers} == {json.dumps(answers[0][1])}
        assert answers[0][1]["jobs"]["push"]["running"] is True

        # a commit by another process (a `push` command next to the daemon) is noticed too
        async with Ledger.open(settings.storage, world.clock) as other:
            await other.jobs.finished("push", world.clock.now(), False, "REDEX said no")
        _, document = await daemon.json("/status")
        assert cache.builds == 3
        assert document["jobs"]["push"]["last_error"] == "REDEX said no"
        await get_twice(daemon, "/status")
        assert cache.builds == 3

        # no ledger write, but a local midnight passed: "calls today" and the window moved
        world.clock.advance(timedelta(hours=12).total_seconds())
        _, document = await daemon.json("/status")
        assert cache.builds == 4
        assert document["fusionsolar_calls_today"] == {}
        await get_twice(daemon, "/status")
        assert cache.builds == 4
        assert await daemon.stop() == 0


async def test_metrics_count_states_again_only_after_a_ledger_change(
    world: World, tmp_path: Path
) -> None:
    settings = world.settings(tmp_path)
    async with running(settings, world.clock) as daemon:
        cache = daemon.app.view.cache
        for _ in range(3):
            _, metrics = await daemon.get("/metrics")
            assert 'fusionbridge_submissions{state="accepted"} 2.0' in metrics
        assert cache.counts_built == 1
        async with Ledger.open(settings.storage, world.clock) as other:
            await other.jobs.started("push", world.clock.now())
        for _ in range(2):
            _, metrics = await daemon.get("/metrics")
            assert 'fusionbridge_submissions{state="accepted"} 2.0' in metrics
        assert cache.counts_built == 2
        assert cache.builds == 0  # /metrics builds no /status document
        assert await daemon.stop() == 0


@pytest.mark.parametrize("ledger_backend", ["sqlite"])  # a SQLite file removed under the daemon
async def test_a_removed_ledger_file_is_reported_not_recreated(
    world: World, tmp_path: Path
) -> None:
    settings = world.settings(tmp_path)
    async with running(settings, world.clock) as daemon:
        settings.storage.path.unlink()
        status, document = await daemon.json("/status")
        assert status == 200
        assert document["error"] == "ledger read failed: ledger.db is gone"
        assert "inverters" not in document
        assert not settings.storage.path.exists()
        assert await daemon.stop() == 0


def test_parse_query_defaults_to_three_months_of_every_inverter() -> None:
    assert parse_query([], ["INV-A"]) == StatusQuery(3, None)
    assert parse_query([("months", "13"), ("inverter", "INV-A")], ["INV-A"]) == StatusQuery(
        13, "INV-A"
    )


RULES = ScheduleRules(push_day=3, push_at=time(7, 0))


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        # the next local midnight comes first: Amsterdam's, an hour before UTC's
        (datetime(2026, 2, 10, 12, 0, tzinfo=UTC), datetime(2026, 2, 10, 23, 0, tzinfo=UTC)),
        # on push day before 07:00 Amsterdam: February turns due there at 06:00 UTC
        (datetime(2026, 3, 3, 5, 0, tzinfo=UTC), datetime(2026, 3, 3, 6, 0, tzinfo=UTC)),
        # just after Amsterdam's push time: Sao Paulo's 07:00 (10:00 UTC) is next
        (datetime(2026, 3, 3, 6, 0, tzinfo=UTC), datetime(2026, 3, 3, 10, 0, tzinfo=UTC)),
    ],
)
def test_the_calendar_moves_at_push_times_and_local_midnights(
    now: datetime, expected: datetime
) -> None:
    assert next_calendar_change(now, [AMSTERDAM, SAO_PAULO], RULES) == expected
