"""Notifications already claimed or sent, so an event is announced once across restarts and replicas.

A process claims an event by inserting its key (or by taking over a failed or stale claim) in one
transaction; only the claimant delivers it, then marks it sent or failed. A failed delivery is
claimed again by the next job; a claim whose holder died is taken over after `stale_after`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from fusionbridge.clock import Clock
from fusionbridge.store.columns import instant_text, optional_instant
from fusionbridge.store.database import Database, Row


@dataclass(frozen=True, slots=True)
class NotificationRecord:
    """One event as the ledger keeps it."""

    key: str
    kind: str
    title: str
    body: str
    state: str
    attempts: int
    delivered_at: datetime | None
    last_error: str | None


class NotificationRecords:
    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self.clock = clock

    async def claim(
        self,
        events: Sequence[tuple[str, str, str, str]],
        holder: str,
        at: datetime,
        stale_after: timedelta,
    ) -> list[NotificationRecord]:
        """Record new (key, kind, title, body) events; claim those not yet delivered for `holder`.

        An event that no longer stands is not claimed again: its message would be stale.
        """
        now = instant_text(at)
        async with self._db.transaction() as tx:
            await tx.executemany(
                """INSERT INTO notifications (key, kind, title, body, detected_at, state)
                VALUES (?, ?, ?, ?, ?, 'failed') ON CONFLICT (key) DO NOTHING""",
                [(*event, now) for event in events],
            )
            rows = await tx.fetchall(
                """UPDATE notifications SET state = 'sending', claimed_by = ?1, claimed_at = ?2,
                    attempts = attempts + 1
                WHERE key IN (SELECT value FROM json_each(?4))
                    AND (state = 'failed' OR (state = 'sending' AND claimed_at < ?3))
                RETURNING key, kind, title, body, state, attempts, delivered_at, last_error""",
                (holder, now, instant_text(at - stale_after), json.dumps([e[0] for e in events])),
            )
        return sorted((_record(row) for row in rows), key=lambda r: r.key)

    async def finish(self, key: str, holder: str, at: datetime, error: str | None) -> None:
        """Mark a claimed event sent, or failed (to be claimed again) with why."""
        async with self._db.transaction() as tx:
            await tx.execute(
                """UPDATE notifications SET state = ?, delivered_at = ?, last_error = ?
                WHERE key = ? AND claimed_by = ? AND state = 'sending'""",
                (
                    "failed" if error else "sent",
                    None if error else instant_text(at),
                    error,
                    key,
                    holder,
                ),
            )

    async def records(self) -> list[NotificationRecord]:
        rows = await self._db.fetchall(
            """SELECT key, kind, title, body, state, attempts, delivered_at, last_error
            FROM notifications ORDER BY detected_at, key"""
        )
        return [_record(row) for row in rows]


def _record(row: Row) -> NotificationRecord:
    return NotificationRecord(
        key=row["key"],
        kind=row["kind"],
        title=row["title"],
        body=row["body"],
        state=row["state"],
        attempts=row["attempts"],
        delivered_at=optional_instant(row["delivered_at"]),
        last_error=row["last_error"],
    )
