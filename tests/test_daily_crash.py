"""Daily pushes under failure: a SIGKILL mid-request, a POST that may have landed, a gateway error.

The kill test runs a real `python -m fusionbridge push` child against simulators served by this
test process: REDEX answers the child's first batches request and holds the second open, and
the kill lands while it is in flight.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from fusionbridge.clock import SystemClock, VirtualClock
from fusionbridge.core.models import Month
from fusionbridge.jobs.push import push
from fusionbridge.jobs.sync import sync
from fusionbridge.simulator.redex import Fault
from tests.daily_harness import batch_bodies, daily_inverters, day_truth, held_days, records_sent
from tests.pipeline_harness import Pipeline, serve_pipeline

REPO = Path(__file__).resolve().parent.parent
HOLD_S = 60.0
NOW = datetime(2027, 1, 5, 10, 0, tzinfo=UTC)


async def _second_batch_in_flight(pipeline: Pipeline, child: asyncio.subprocess.Process) -> None:
    deadline = asyncio.get_running_loop().time() + 30
    while asyncio.get_running_loop().time() < deadline:
        batches = [r for r in pipeline.redex.requests if r.endpoint == "batches"]
        if len(batches) >= 2:
            assert [r.status for r in batches] == [201, 0]
            return
        assert child.returncode is None, "the push ended before its second request"
        await asyncio.sleep(0.02)  # polling the simulator; the child works in real time
    raise AssertionError("the child never sent its second request")


async def test_sigkill_mid_daily_push_loses_nothing_and_repeats_only_the_request_in_flight(
    tmp_path: Path,
    ledger_target: Path | str,
) -> None:
    clock = SystemClock()
    first = Month.containing(datetime.now(UTC), ZoneInfo("UTC")).shift(-2)
    async with serve_pipeline(
        ledger_target, clock, rate_limit=1000, rate_period_s=1.0, processing_polls=0
    ) as pipeline:
        entries = daily_inverters(pipeline)
        pipeline.redex.register(*(e["remote_inv_id"] for e in entries), frequency="Daily")
        redex = {"daily_batch_records": 40}  # several requests: a kill can cut exactly one
        settings = pipeline.settings(entries, redex=redex)
        config = pipeline.write_toml(tmp_path / "fusionbridge.toml", entries, redex=redex)
        async with pipeline.runtime(settings, clock) as rt:
            await sync(rt, first=first)

        pipeline.redex.inject("batches", Fault.slow(0.0), Fault.slow(HOLD_S))
        child = await asyncio.create_subprocess_exec(
            *(sys.executable, "-m", "fusionbridge", "--config", str(config), "push", "--wait", "5"),
            cwd=tmp_path,
            env={**os.environ, "PYTHONPATH": str(REPO)},
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            await _second_batch_in_flight(pipeline, child)
        finally:
            if child.returncode is None:
                child.send_signal(signal.SIGKILL)
            _, stderr = await child.communicate()
        assert child.returncode == -signal.SIGKILL, stderr.decode()

        async with pipeline.runtime(settings, clock) as rt:
            [cut] = [r for r in await rt.ledger.days.day_request_log() if r.finished_at is None]
            resumed = await push(rt, wait_s=10)
            log = await rt.ledger.days.day_request_log()
            states = {d.state for d in await rt.ledger.days.day_submissions()}

        assert resumed.standing_problems == 0
        assert states == {"accepted"}
        truth = {
            e["remote_inv_id"]: day_truth(pipeline, e, first.first_day(), clock.now())
            for e in entries
        }
        for remote_inv_id, expected in truth.items():
            assert held_days(pipeline, remote_inv_id) == expected, remote_inv_id
        carried = Counter((inv, day) for request in log for inv, day, _ in request.outcomes)
        in_cut = {(inv, day) for inv, day, _ in cut.outcomes}
        assert {key for key, n in carried.items() if n > 1} == in_cut
        assert all(n <= 2 for n in carried.values())
        assert sum(len(t) for t in truth.values()) == len(carried)
        taken = Counter(records_sent(pipeline))
        assert set(taken.values()) == {1}, "REDEX took each day exactly once"


async def test_a_500_leaves_days_unconfirmed_unrepeated_until_the_next_run(
    ledger_target: Path | str,
) -> None:
    clock = VirtualClock(NOW)
    async with serve_pipeline(ledger_target, clock) as pipeline:
        entries = daily_inverters(pipeline)
        pipeline.redex.register(*(e["remote_inv_id"] for e in entries), frequency="Daily")
        settings = pipeline.settings(entries)
        async with pipeline.runtime(settings, clock) as rt:
            await sync(rt, first=Month(2026, 12))
            pipeline.redex.inject("batches", Fault(status=500))
            first = await push(rt, wait_s=5)
            assert pipeline.redex.count("batches") == 1, (
                "a POST that may have landed is not retried"
            )
            assert {d.state for d in await rt.ledger.days.day_submissions()} == {"unconfirmed"}
            assert first.standing_problems > 0

            second = await push(rt, wait_s=30)
            assert pipeline.redex.count("batches") == 2
            assert second.standing_problems == 0
            assert {d.state for d in await rt.ledger.days.day_submissions()} == {"accepted"}
            [body] = batch_bodies(pipeline)
            assert body == batch_bodies(pipeline, status=None)[0], "sent once more, the same"


async def test_a_broken_connection_is_unconfirmed_and_a_gateway_error_is_retried(
    ledger_target: Path | str,
) -> None:
    clock = VirtualClock(NOW)
    async with serve_pipeline(ledger_target, clock) as pipeline:
        entries = daily_inverters(pipeline)
        pipeline.redex.register(*(e["remote_inv_id"] for e in entries), frequency="Daily")
        settings = pipeline.settings(entries)
        async with pipeline.runtime(settings, clock) as rt:
            await sync(rt, first=Month(2026, 12))
            pipeline.redex.inject("batches", Fault.reset())
            await push(rt, wait_s=5)
            assert pipeline.redex.count("batches") == 1
            assert {d.state for d in await rt.ledger.days.day_submissions()} == {"unconfirmed"}

            pipeline.redex.inject("batches", Fault(status=503))
            report = await push(rt, wait_s=30)
            assert [r.status for r in pipeline.redex.requests if r.endpoint == "batches"][1:] == [
                503,
                201,
            ]
            assert report.standing_problems == 0
            for entry in entries:
                assert held_days(pipeline, entry["remote_inv_id"]) == day_truth(
                    pipeline, entry, Month(2026, 12).first_day(), clock.now()
                )
