"""What REDEX answered: each monthly-data answer as received, and each ProcessId's status history."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from fusionbridge.clock import Clock
from fusionbridge.store.columns import instant, instant_text
from fusionbridge.store.database import Database


@dataclass(frozen=True, slots=True)
class RedexAnswer:
    """The answer to one logged request: HTTP status and body text as received."""

    request_id: int
    http_status: int
    body: str
    received_at: datetime


@dataclass(frozen=True, slots=True)
class StatusSeen:
    """One processing status REDEX reported for a ProcessId, when it was first seen."""

    process_id: int
    status: str
    body: str
    seen_at: datetime


class RedexLogRecords:
    """Append-only: an answer per request, a row per status change of a ProcessId."""

    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self.clock = clock

    async def record_answer(
        self, request_id: int, http_status: int, body: str, at: datetime
    ) -> None:
        """Keep the answer to a logged request; the first one recorded stands."""
        async with self._db.transaction() as tx:
            await tx.execute(
                """INSERT INTO push_answers (request_id, http_status, body, received_at)
                VALUES (?, ?, ?, ?) ON CONFLICT (request_id) DO NOTHING""",
                (request_id, http_status, body, instant_text(at)),
            )

    async def record_status(self, process_id: int, status: str, body: str, at: datetime) -> bool:
        """Note a polled status unless it repeats the last one seen; whether it was new."""
        async with self._db.transaction() as tx:
            last = await tx.fetchone(
                """SELECT status FROM process_statuses WHERE process_id = ?
                ORDER BY id DESC LIMIT 1""",
                (process_id,),
            )
            if last is not None and last["status"] == status:
                return False
            await tx.execute(
                """INSERT INTO process_statuses (process_id, status, body, seen_at)
                VALUES (?, ?, ?, ?)""",
                (process_id, status, body, instant_text(at)),
            )
            return True

    async def answers(self, request_ids: Iterable[int]) -> dict[int, RedexAnswer]:
        wanted = sorted(set(request_ids))
        if not wanted:
            return {}
        rows = await self._db.fetchall(
            "SELECT request_id, http_status, body, received_at FROM push_answers "
            "WHERE request_id IN (SELECT CAST(value AS INTEGER) FROM json_each(?))",
            (json.dumps(wanted),),
        )
        return {
            row["request_id"]: RedexAnswer(
                row["request_id"], row["http_status"], row["body"], instant(row["received_at"])
            )
            for row in rows
        }

    async def status_history(self, process_ids: Iterable[int]) -> dict[int, list[StatusSeen]]:
        wanted = sorted(set(process_ids))
        if not wanted:
            return {}
        rows = await self._db.fetchall(
            "SELECT process_id, status, body, seen_at FROM process_statuses "
            "WHERE process_id IN (SELECT CAST(value AS INTEGER) FROM json_each(?)) ORDER BY process_id, id",
            (json.dumps(wanted),),
        )
        history: dict[int, list[StatusSeen]] = {}
        for row in rows:
            history.setdefault(row["process_id"], []).append(
                StatusSeen(row["process_id"], row["status"], row["body"], instant(row["seen_at"]))
            )
        return history
