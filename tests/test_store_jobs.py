"""Job bookkeeping: counts, last success and failure, redacted errors, runs cut short."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from fusionbridge.clock import VirtualClock
from fusionbridge.store import JobRun, Ledger
from fusionbridge.store.job_runs import MAX_ERROR_CHARS, redact_error

T0 = datetime(2025, 3, 3, 6, 30, tzinfo=UTC)


async def test_job_runs_round_trip_and_survive_restart(ledger_target: Path | str) -> None:
    path = ledger_target
    t1, t2, t3 = (T0 + timedelta(minutes=n) for n in (1, 2, 3))
    async with Ledger.open(path, VirtualClock(T0)) as ledger:
        assert await ledger.jobs.runs() == {}
        await ledger.jobs.started("sync", T0)
        await ledger.jobs.finished("sync", t1, ok=True, error=None)
        await ledger.jobs.started("sync", t2)
        await ledger.jobs.finished("sync", t3, ok=False, error="UpstreamError: HTTP 502\nretry")
        await ledger.jobs.started("push", t3)  # killed before it finished
    async with Ledger.open(path, VirtualClock(T0)) as ledger:
        runs = await ledger.jobs.runs()
    assert runs == {
        "push": JobRun("push", t3, None, None, None, None, True, 1, 0, 0),
        "sync": JobRun("sync", t2, t3, t1, t3, "UpstreamError: HTTP 502 retry", False, 2, 1, 1),
    }


async def test_success_keeps_the_last_failure_for_the_record(ledger_target: Path | str) -> None:
    async with Ledger.open(ledger_target, VirtualClock(T0)) as ledger:
        await ledger.jobs.finished("push", T0, ok=False, error=None)
        await ledger.jobs.finished("push", T0 + timedelta(hours=1), ok=True, error=None)
        run = (await ledger.jobs.runs())["push"]
    assert (run.last_failure_at, run.last_error, run.last_success_at) == (
        T0,
        "failed without a message",
        T0 + timedelta(hours=1),
    )
    assert (run.runs, run.successes, run.failures) == (0, 1, 1)


def test_errors_are_redacted_and_bounded() -> None:
    text = "login failed: systemCode=hunter2 token: \"abc.def\" api_key='k-123' ok=1"
    assert redact_error(text) == ("login failed: systemCode=*** token: \"***\" api_key='***' ok=1")
    long = redact_error("x" * 2000)
    assert len(long) == MAX_ERROR_CHARS
    assert long.endswith("…")
