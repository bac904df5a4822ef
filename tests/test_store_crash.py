"""A ledger writer killed with SIGKILL loses nothing committed and shows no half transaction.

Runs against both backends: a SQLite file, and a PostgreSQL server that sees its client vanish.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from datetime import UTC, datetime
from pathlib import Path

from fusionbridge.clock import VirtualClock
from fusionbridge.core.models import SubmissionState
from fusionbridge.store import Ledger
from tests import store_crash_child as child

REPO = Path(__file__).resolve().parent.parent
READ_TIMEOUT_S = 20
STEPS_PER_ROUND = 10
KILL_AFTER = ("readings", "begun", "finished") * 3
"""Each round kills right after a different commit line, so the kill lands inside a different
transaction each time: mid begin_request, mid finish_request, mid save_readings."""


async def run_child_until(
    path: Path | str, stop_after: tuple[str, int], hang_at: int | None
) -> list[str]:
    """Start the writer, read its commit lines until `stop_after` appears, SIGKILL it."""
    args = [sys.executable, "-m", "tests.store_crash_child", str(path)]
    if hang_at is not None:
        args.append(str(hang_at))
    proc = await asyncio.create_subprocess_exec(
        *args, cwd=REPO, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    assert proc.stdout is not None
    lines: list[str] = []
    try:
        for _ in range(10_000):  # bounded: the child prints three lines per step
            raw = await asyncio.wait_for(proc.stdout.readline(), READ_TIMEOUT_S)
            assert raw, "the child exited before it reached the kill point"
            line = raw.decode().strip()
            lines.append(line)
            kind, step = line.split()[:2]
            if (kind, int(step)) == stop_after:
                break
    finally:
        proc.send_signal(signal.SIGKILL)
        _, stderr = await proc.communicate()
    assert proc.returncode == -signal.SIGKILL, stderr.decode()
    return lines


def committed(lines: list[str], kind: str) -> dict[int, int | None]:
    """Steps the child reported as committed for `kind`, with the request id when it has one."""
    out: dict[int, int | None] = {}
    for line in lines:
        parts = line.split()
        if parts[0] == kind:
            out[int(parts[1])] = int(parts[2]) if len(parts) > 2 else None
    return out


async def test_sigkill_mid_write_loses_nothing_committed(ledger_target: Path | str) -> None:
    path = ledger_target
    reported: dict[str, dict[int, int | None]] = {"readings": {}, "begun": {}, "finished": {}}
    for kill_after in KILL_AFTER:
        async with Ledger.open(path, VirtualClock(datetime.now(UTC))) as ledger:
            start = len(await ledger.submissions.request_log())
        lines = await run_child_until(path, (kill_after, start + STEPS_PER_ROUND), hang_at=None)
        for kind, seen in reported.items():
            seen.update(committed(lines, kind))
        await check_consistent(path, reported)
    assert len(reported["finished"]) >= len(KILL_AFTER) * (STEPS_PER_ROUND - 1)


async def check_consistent(path: Path | str, reported: dict[str, dict[int, int | None]]) -> None:
    """Integrity ok; everything reported committed is there; no transaction half applied."""
    async with Ledger.open(path, VirtualClock(datetime.now(UTC))) as ledger:
        assert await ledger.integrity_check() == ["ok"]
        monthly = await ledger.energy.monthly()
        log = await ledger.submissions.request_log()
        in_flight = await ledger.submissions.in_flight()
        records = {r.remote_inv_id: r for r in await ledger.submissions.records()}
        steps_with_readings = {int(s.id) - 1_000_000_000 for s, _ in monthly}
        for step in steps_with_readings:
            days = await ledger.energy.daily(child.source(step), child.MONTH)
            # the month and its days were one transaction: all there, exactly
            assert monthly[child.source(step), child.MONTH].kwh == child.month_kwh(step)
            assert [r.kwh for r in days] == [child.day_kwh(step, d) for d in child.DAYS]

    assert set(reported["readings"]) <= steps_with_readings
    assert steps_with_readings == set(range(1, max(steps_with_readings) + 1))
    assert {r.id for r in log} >= {rid for rid in reported["begun"].values() if rid}
    finished_ids = {r.id for r in log if r.finished_at is not None}
    assert finished_ids >= {rid for rid in reported["finished"].values() if rid}
    assert len(in_flight) <= 1
    if in_flight:
        assert in_flight[0].id == max(r.id for r in log)
    for request in log:
        [item] = request.items
        record = records[item.remote_inv_id]
        assert record.request_id == request.id
        step = int(item.remote_inv_id.removeprefix("RM-CRASH-INV"))
        if request.finished_at is None:
            assert (record.state, item.outcome) == (SubmissionState.SENDING, None)
        elif item.outcome == "unconfirmed":  # abandoned by the next run after a kill
            assert (record.state, record.last_error, record.unconfirmed_runs) == (
                SubmissionState.UNCONFIRMED,
                "interrupted by a crash",
                1,
            )
        else:
            assert (record.state, record.process_id, record.value_sent) == (
                SubmissionState.SENT,
                child.process_id(step),
                child.month_kwh(step),
            )
    assert len(records) == len(log)


async def test_sigkill_during_a_request_leaves_it_in_flight(ledger_target: Path | str) -> None:
    path = ledger_target
    lines = await run_child_until(path, ("begun", 3), hang_at=3)
    hung_request = committed(lines, "begun")[3]
    assert hung_request is not None

    async with Ledger.open(path, VirtualClock(datetime.now(UTC))) as ledger:
        assert await ledger.integrity_check() == ["ok"]
        [interrupted] = await ledger.submissions.in_flight()
        assert interrupted.id == hung_request
        assert interrupted.payload_json == child.payload(3)
        assert [(i.remote_inv_id, i.month, i.kwh) for i in interrupted.items] == [
            (child.inverter(3), child.MONTH, child.month_kwh(3))
        ]
        states = {r.remote_inv_id: r.state for r in await ledger.submissions.records()}
        assert states == {
            child.inverter(1): SubmissionState.SENT,
            child.inverter(2): SubmissionState.SENT,
            child.inverter(3): SubmissionState.SENDING,
        }
        # the next run closes the interrupted request and sends that month again, once
        await ledger.submissions.abandon_request(
            interrupted.id, ledger.clock.now(), "interrupted by a crash"
        )
        assert await ledger.submissions.in_flight() == []
        [again] = await ledger.submissions.records([child.inverter(3)])
        assert (again.state, again.attempts) == (SubmissionState.UNCONFIRMED, 1)
