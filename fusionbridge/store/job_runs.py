"""When each scheduled job last ran and how it ended, for the scheduler's catch-up and /readyz."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from fusionbridge.clock import Clock
from fusionbridge.logs import SECRET_KEYS
from fusionbridge.store.columns import instant_text, optional_instant
from fusionbridge.store.database import Database, Row

MAX_ERROR_CHARS = 500
_SECRET_ASSIGNMENT = re.compile(
    r"(?i)\b(" + "|".join(sorted(map(re.escape, SECRET_KEYS), key=len, reverse=True)) + r")"
    r"(['\"]?\s*[:=]\s*['\"]?)[^\s'\",;&}]+"
)


@dataclass(frozen=True, slots=True)
class JobRun:
    """One job's bookkeeping; `running` still True after a restart means the run was cut short."""

    name: str
    last_started_at: datetime | None
    last_finished_at: datetime | None
    last_success_at: datetime | None
    last_failure_at: datetime | None
    last_error: str | None
    running: bool
    runs: int
    successes: int
    failures: int


def redact_error(message: str) -> str:
    """One line, bounded, with any `secret=value` masked: this text is served on /status."""
    line = " ".join(message.split())
    line = _SECRET_ASSIGNMENT.sub(r"\1\2***", line)
    return line if len(line) <= MAX_ERROR_CHARS else line[: MAX_ERROR_CHARS - 1] + "…"


class JobRecords:
    """Counters and last times per job name (`sync`, `push`, ...)."""

    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self.clock = clock

    async def started(self, name: str, at: datetime) -> None:
        async with self._db.transaction() as tx:
            await tx.execute(
                """INSERT INTO job_runs (name, last_started_at, running, runs) VALUES (?, ?, 1, 1)
                ON CONFLICT (name) DO UPDATE SET last_started_at = excluded.last_started_at,
                    running = 1, runs = job_runs.runs + 1""",
                (name, instant_text(at)),
            )

    async def finished(self, name: str, at: datetime, ok: bool, error: str | None) -> None:
        """Close the run; a failure keeps its (redacted) error until the next failure."""
        now = instant_text(at)
        if ok:
            sql = """INSERT INTO job_runs (name, last_finished_at, last_success_at, successes)
                VALUES (?, ?, ?, 1)
                ON CONFLICT (name) DO UPDATE SET running = 0,
                    last_finished_at = excluded.last_finished_at,
                    last_success_at = excluded.last_success_at, successes = job_runs.successes + 1"""
            params: tuple[object, ...] = (name, now, now)
        else:
            sql = """INSERT INTO job_runs
                    (name, last_finished_at, last_failure_at, last_error, failures)
                VALUES (?, ?, ?, ?, 1)
                ON CONFLICT (name) DO UPDATE SET running = 0,
                    last_finished_at = excluded.last_finished_at,
                    last_failure_at = excluded.last_failure_at,
                    last_error = excluded.last_error, failures = job_runs.failures + 1"""
            params = (name, now, now, redact_error(error or "failed without a message"))
        async with self._db.transaction() as tx:
            await tx.execute(sql, params)

    async def runs(self) -> dict[str, JobRun]:
        rows = await self._db.fetchall("SELECT * FROM job_runs ORDER BY name")
        return {row["name"]: _job_run(row) for row in rows}


def _job_run(row: Row) -> JobRun:
    return JobRun(
        name=row["name"],
        last_started_at=optional_instant(row["last_started_at"]),
        last_finished_at=optional_instant(row["last_finished_at"]),
        last_success_at=optional_instant(row["last_success_at"]),
        last_failure_at=optional_instant(row["last_failure_at"]),
        last_error=row["last_error"],
        running=bool(row["running"]),
        runs=row["runs"],
        successes=row["successes"],
        failures=row["failures"],
    )
