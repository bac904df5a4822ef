"""When each scheduled job last ran and how it ended, for the scheduler's catch-up and /readyz."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from fusionbridge.clock import Clock
from fusionbridge.logs import SECRET_KEYS
from fusionbridge.store.columns import instant_text, optional_instant
from fusionbridge.store.database import Database, Row
from fusionbridge.store.leases import DEFAULT_ACCOUNT

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
    holder: str | None = None
    """The process (`host:pid`) that last started this job for the account."""


def redact_error(message: str) -> str:
    """One line, bounded, with any `secret=value` masked: this text is served on /status."""
    line = " ".join(message.split())
    line = _SECRET_ASSIGNMENT.sub(r"\1\2***", line)
    return line if len(line) <= MAX_ERROR_CHARS else line[: MAX_ERROR_CHARS - 1] + "…"


class JobRecords:
    """Counters and last times per job name (`sync`, `push`, ...) of one account."""

    def __init__(self, db: Database, clock: Clock, account: str = DEFAULT_ACCOUNT) -> None:
        self._db = db
        self.clock = clock
        self.account = account

    async def started(self, name: str, at: datetime, holder: str | None = None) -> None:
        async with self._db.transaction() as tx:
            await tx.execute(
                """INSERT INTO job_runs (account, name, last_started_at, running, runs, holder)
                VALUES (?, ?, ?, 1, 1, ?)
                ON CONFLICT (account, name) DO UPDATE SET
                    last_started_at = excluded.last_started_at, running = 1,
                    runs = job_runs.runs + 1, holder = excluded.holder""",
                (self.account, name, instant_text(at), holder),
            )

    async def finished(self, name: str, at: datetime, ok: bool, error: str | None) -> None:
        """Close the run; a failure keeps its (redacted) error until the next failure."""
        now = instant_text(at)
        if ok:
            sql = """INSERT INTO job_runs
                    (account, name, last_finished_at, last_success_at, successes)
                VALUES (?, ?, ?, ?, 1)
                ON CONFLICT (account, name) DO UPDATE SET running = 0,
                    last_finished_at = excluded.last_finished_at,
                    last_success_at = excluded.last_success_at, successes = job_runs.successes + 1"""
            params: tuple[object, ...] = (self.account, name, now, now)
        else:
            sql = """INSERT INTO job_runs
                    (account, name, last_finished_at, last_failure_at, last_error, failures)
                VALUES (?, ?, ?, ?, ?, 1)
                ON CONFLICT (account, name) DO UPDATE SET running = 0,
                    last_finished_at = excluded.last_finished_at,
                    last_failure_at = excluded.last_failure_at,
                    last_error = excluded.last_error, failures = job_runs.failures + 1"""
            params = (
                self.account,
                name,
                now,
                now,
                redact_error(error or "failed without a message"),
            )
        async with self._db.transaction() as tx:
            await tx.execute(sql, params)

    async def runs(self) -> dict[str, JobRun]:
        """This account's jobs by name."""
        rows = await self._db.fetchall(
            "SELECT * FROM job_runs WHERE account = ? ORDER BY name", (self.account,)
        )
        return {row["name"]: _job_run(row) for row in rows}

    async def every_account(self) -> dict[str, dict[str, JobRun]]:
        """Every account's jobs, by account then name (for /status, the page and replicas)."""
        rows = await self._db.fetchall("SELECT * FROM job_runs ORDER BY account, name")
        runs: dict[str, dict[str, JobRun]] = {}
        for row in rows:
            runs.setdefault(row["account"], {})[row["name"]] = _job_run(row)
        return runs


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
        holder=row["holder"],
    )
