"""Per remote inverter and day, what went to REDEX; the append-only day request log; baselines.

The discipline is the monthly one (store/submissions.py): `begin_day_request` records the exact
payload and marks its days `sending` before anything leaves, `finish_day_request` records the
answer. A request a crash left open is closed by `recover_day_requests` as `unconfirmed`: it may
have reached REDEX, so the next push sends its days once more (SPEC §10).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from fusionbridge.clock import Clock
from fusionbridge.core.models import SourceRef
from fusionbridge.core.outcomes import Failed, Outcome, Pending, Rejected, Sent, Unconfirmed
from fusionbridge.errors import LedgerError
from fusionbridge.store.columns import (
    decimal,
    decimal_text,
    instant,
    instant_text,
    optional_decimal,
    optional_instant,
)
from fusionbridge.store.database import Database, Row, Transaction
from fusionbridge.store.submissions import FAILED, SUCCESS

DayOutcome = Outcome


@dataclass(frozen=True, slots=True)
class DayRecordOut:
    """One day of one remote inverter as it goes into a request."""

    remote_inv_id: str
    day: date
    kwh: Decimal
    accumulated_kwh: Decimal


@dataclass(frozen=True, slots=True)
class DaySubmission:
    """Where one remote inverter's day stands with REDEX.

    `kwh_sent`/`accumulated_sent` are the values of the latest request that carried the day,
    whatever came of it: while `sending`, `due` or `unconfirmed` that is what REDEX may hold.
    """

    remote_inv_id: str
    day: date
    state: str
    kwh_sent: Decimal | None
    accumulated_sent: Decimal | None
    process_id: int | None
    processing_status: str | None
    attempts: int
    last_error: str | None
    accepted_kwh: Decimal | None
    accepted_accumulated: Decimal | None


@dataclass(frozen=True, slots=True)
class Baseline:
    """The lifetime counter read once for a daily inverter, and the opening total derived from it.

    `opening_kwh` is the accumulated total at the end of the day before `anchor_day`: the counter
    minus the production the ledger already knew from `anchor_day` on when it was read.
    """

    remote_inv_id: str
    source: str
    anchor_day: date
    opening_kwh: Decimal
    counter_kwh: Decimal
    counter_key: str
    raw: str
    known_kwh: Decimal
    read_at: datetime


@dataclass(frozen=True, slots=True)
class DayRequest:
    """A batches request exactly as sent; `finished_at` None means no answer was recorded."""

    id: int
    payload_json: str
    begun_at: datetime
    finished_at: datetime | None
    outcomes: tuple[tuple[str, date, str | None], ...]


class DaySubmissionRecords:
    """Each operation is one transaction, so a kill between two leaves a consistent ledger."""

    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self.clock = clock

    async def begin_day_request(
        self, records: Sequence[DayRecordOut], payload_json: str, at: datetime
    ) -> int:
        """Log the payload and mark its days `sending`, before the request leaves; its id."""
        keys = [(r.remote_inv_id, r.day) for r in records]
        if not records or len(set(keys)) != len(keys):
            raise ValueError("a request carries at least one day and each day once")
        now = instant_text(at)
        async with self._db.transaction() as tx:
            request_id = await tx.insert(
                "INSERT INTO day_requests (payload, begun_at) VALUES (?, ?)", (payload_json, now)
            )
            await tx.executemany(
                """INSERT INTO day_request_items
                    (request_id, remote_inv_id, day, kwh, accumulated_kwh) VALUES (?, ?, ?, ?, ?)""",
                [
                    (
                        request_id,
                        r.remote_inv_id,
                        r.day.isoformat(),
                        decimal_text(r.kwh),
                        decimal_text(r.accumulated_kwh),
                    )
                    for r in records
                ],
            )
            await tx.executemany(
                """INSERT INTO day_submissions (remote_inv_id, day, state, kwh_sent,
                    accumulated_sent, attempts, request_id, updated_at)
                VALUES (?, ?, 'sending', ?, ?, 1, ?, ?)
                ON CONFLICT (remote_inv_id, day) DO UPDATE SET state = 'sending',
                    kwh_sent = excluded.kwh_sent, accumulated_sent = excluded.accumulated_sent,
                    attempts = day_submissions.attempts + 1, request_id = excluded.request_id,
                    updated_at = excluded.updated_at""",
                [
                    (
                        r.remote_inv_id,
                        r.day.isoformat(),
                        decimal_text(r.kwh),
                        decimal_text(r.accumulated_kwh),
                        request_id,
                        now,
                    )
                    for r in records
                ],
            )
        return request_id

    async def finish_day_request(
        self, request_id: int, outcomes: Mapping[str, DayOutcome], at: datetime
    ) -> None:
        """Record REDEX's answer per remote inverter; one not named counts as Unconfirmed."""
        await self._finish_day(request_id, outcomes, Unconfirmed("no outcome was recorded"), at)

    async def recover_day_requests(
        self, at: datetime, reason: str, remote_inv_ids: Iterable[str] | None = None
    ) -> list[int]:
        """Close every request a crash left open as unconfirmed (of those carrying the given
        inverters only, if any: one account's, SPEC §14); their ids."""
        if remote_inv_ids is None:
            rows = await self._db.fetchall("SELECT id FROM day_requests WHERE finished_at IS NULL")
        else:
            rows = await self._db.fetchall(
                """SELECT DISTINCT r.id FROM day_requests AS r
                JOIN day_request_items AS i ON i.request_id = r.id
                WHERE r.finished_at IS NULL
                    AND i.remote_inv_id IN (SELECT value FROM json_each(?))
                ORDER BY r.id""",
                (json.dumps(sorted(set(remote_inv_ids))),),
            )
        ids = [int(row[0]) for row in rows]
        for request_id in ids:
            await self._finish_day(request_id, {}, Unconfirmed(reason), at)
        return ids

    async def _finish_day(
        self,
        request_id: int,
        outcomes: Mapping[str, DayOutcome],
        default: DayOutcome,
        at: datetime,
    ) -> None:
        now = instant_text(at)
        async with self._db.transaction() as tx:
            head = await tx.fetchone(
                "SELECT finished_at FROM day_requests WHERE id = ?", (request_id,)
            )
            if head is None or head["finished_at"] is not None:
                raise LedgerError(f"day request {request_id} is unknown or already finished")
            rows = await tx.fetchall(
                "SELECT DISTINCT remote_inv_id FROM day_request_items WHERE request_id = ?",
                (request_id,),
            )
            carried = {row[0] for row in rows}
            unknown = set(outcomes) - carried
            if unknown:
                raise LedgerError(f"day request {request_id} did not carry {sorted(unknown)}")
            for inverter in sorted(carried):
                await _apply(tx, request_id, inverter, outcomes.get(inverter, default), now)
            await tx.execute(
                "UPDATE day_requests SET finished_at = ? WHERE id = ?", (now, request_id)
            )

    async def record_day_processing(
        self, process_id: int, status: str, at: datetime, message: str | None = None
    ) -> int:
        """Apply a polled processing status to the days of `process_id`; how many it settled."""
        now = instant_text(at)
        async with self._db.transaction() as tx:
            if status == SUCCESS:
                rows = await tx.fetchall(
                    """UPDATE day_submissions SET state = 'accepted', processing_status = ?,
                        accepted_kwh = kwh_sent, accepted_accumulated = accumulated_sent,
                        accepted_at = ?, last_error = NULL, updated_at = ?
                    WHERE process_id = ? AND state = 'sent' RETURNING day""",
                    (status, now, now, process_id),
                )
                return len(rows)
            if status == FAILED:
                rows = await tx.fetchall(
                    """UPDATE day_submissions SET state = 'failed', processing_status = ?,
                        last_error = ?, updated_at = ?
                    WHERE process_id = ? AND state = 'sent' RETURNING day""",
                    (status, message or "REDEX processing ended Failed", now, process_id),
                )
                return len(rows)
            await tx.execute(
                """UPDATE day_submissions SET processing_status = ?, updated_at = ?
                WHERE process_id = ? AND state = 'sent'""",
                (status, now, process_id),
            )
            return 0

    async def open_day_process_ids(self, remote_inv_ids: Iterable[str] | None = None) -> list[int]:
        """ProcessIds whose days were sent and are not yet accepted or failed (of the given
        inverters only, if any: one account's, SPEC §14)."""
        if remote_inv_ids is None:
            rows = await self._db.fetchall(
                """SELECT DISTINCT process_id FROM day_submissions
                WHERE state = 'sent' AND process_id IS NOT NULL ORDER BY process_id"""
            )
        else:
            rows = await self._db.fetchall(
                """SELECT DISTINCT process_id FROM day_submissions
                WHERE state = 'sent' AND process_id IS NOT NULL
                    AND remote_inv_id IN (SELECT value FROM json_each(?))
                ORDER BY process_id""",
                (json.dumps(sorted(set(remote_inv_ids))),),
            )
        return [int(row[0]) for row in rows]

    async def day_submissions(
        self, remote_inv_ids: Iterable[str] | None = None
    ) -> list[DaySubmission]:
        """Day records by (remote inverter, day); only the given inverters if any."""
        if remote_inv_ids is None:
            rows = await self._db.fetchall(
                "SELECT * FROM day_submissions ORDER BY remote_inv_id, day"
            )
        else:
            rows = await self._db.fetchall(
                """SELECT * FROM day_submissions
                WHERE remote_inv_id IN (SELECT value FROM json_each(?))
                ORDER BY remote_inv_id, day""",
                (json.dumps(sorted(set(remote_inv_ids))),),
            )
        return [_submission(row) for row in rows]

    async def day_problem_count(self, remote_inv_ids: Iterable[str]) -> int:
        """Days standing rejected, failed or unconfirmed (a `sending` one is unconfirmed too)."""
        row = await self._db.fetchone(
            """SELECT COUNT(*) FROM day_submissions
            WHERE state IN ('rejected', 'failed', 'unconfirmed', 'sending')
                AND remote_inv_id IN (SELECT value FROM json_each(?))""",
            (json.dumps(sorted(set(remote_inv_ids))),),
        )
        return int(row[0]) if row else 0

    async def day_request_log(self) -> list[DayRequest]:
        """Every day request ever begun, oldest first, with (inverter, day, outcome) per record."""
        async with self._db.snapshot() as tx:
            heads = await tx.fetchall(
                "SELECT id, payload, begun_at, finished_at FROM day_requests ORDER BY id"
            )
            rows = await tx.fetchall(
                """SELECT request_id, remote_inv_id, day, outcome FROM day_request_items
                ORDER BY request_id, remote_inv_id, day"""
            )
        outcomes: dict[int, list[tuple[str, date, str | None]]] = {}
        for row in rows:
            outcomes.setdefault(row[0], []).append((row[1], date.fromisoformat(row[2]), row[3]))
        return [
            DayRequest(
                row["id"],
                row["payload"],
                instant(row["begun_at"]),
                optional_instant(row["finished_at"]),
                tuple(outcomes.get(row["id"], ())),
            )
            for row in heads
        ]

    async def save_baseline(self, baseline: Baseline) -> bool:
        """Keep a baseline unless one is already kept (it never changes); whether it was new."""
        async with self._db.transaction() as tx:
            changed = await tx.execute(
                """INSERT INTO day_baselines (remote_inv_id, source, anchor_day, opening_kwh,
                    counter_kwh, counter_key, raw, known_kwh, read_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (remote_inv_id) DO NOTHING""",
                (
                    baseline.remote_inv_id,
                    baseline.source,
                    baseline.anchor_day.isoformat(),
                    decimal_text(baseline.opening_kwh),
                    decimal_text(baseline.counter_kwh),
                    baseline.counter_key,
                    baseline.raw,
                    decimal_text(baseline.known_kwh),
                    instant_text(baseline.read_at),
                ),
            )
        return changed == 1

    async def baselines(self) -> dict[str, Baseline]:
        rows = await self._db.fetchall("SELECT * FROM day_baselines ORDER BY remote_inv_id")
        return {
            row["remote_inv_id"]: Baseline(
                row["remote_inv_id"],
                row["source"],
                date.fromisoformat(row["anchor_day"]),
                decimal(row["opening_kwh"]),
                decimal(row["counter_kwh"]),
                row["counter_key"],
                row["raw"],
                decimal(row["known_kwh"]),
                instant(row["read_at"]),
            )
            for row in rows
        }

    async def day_values(
        self, sources: Iterable[SourceRef]
    ) -> dict[SourceRef, dict[date, tuple[Decimal, datetime]]]:
        """Every daily reading of `sources`: kWh and when it was fetched, by date."""
        by_text = {str(s): s for s in sources}
        rows = await self._db.fetchall(
            """SELECT source, day, kwh, fetched_at FROM daily_energy
            WHERE source IN (SELECT value FROM json_each(?)) ORDER BY source, day""",
            (json.dumps(sorted(by_text)),),
        )
        result: dict[SourceRef, dict[date, tuple[Decimal, datetime]]] = {
            s: {} for s in by_text.values()
        }
        instants: dict[str, datetime] = {}  # a sync stamps many rows with one instant
        for row in rows:
            fetched = instants.get(row[3])
            if fetched is None:
                fetched = instants[row[3]] = instant(row[3])
            result[by_text[row[0]]][date.fromisoformat(row[1])] = (decimal(row[2]), fetched)
        return result


async def _apply(
    tx: Transaction, request_id: int, inverter: str, outcome: DayOutcome, now: str
) -> None:
    """Log one inverter's outcome in the request; move its days on unless a later one owns them."""
    logged: tuple[str, int | None, str | None]
    match outcome:
        case Sent(process_id):
            logged = ("sent", process_id, None)
            state_sql = """state = 'sent', sent_at = ?, process_id = ?,
                processing_status = NULL, last_error = NULL"""
            params: tuple[object, ...] = (now, process_id)
        case Rejected(message):
            logged = ("rejected", None, message)
            state_sql, params = "state = 'rejected', last_error = ?", (message,)
        case Failed(message):
            logged = ("failed", None, message)
            state_sql, params = "state = 'failed', last_error = ?", (message,)
        case Pending(error):
            logged = ("pending", None, error)
            state_sql, params = "state = 'due', last_error = ?", (error,)
        case Unconfirmed(error):
            logged = ("unconfirmed", None, error)
            state_sql, params = "state = 'unconfirmed', last_error = ?", (error,)
    await tx.execute(
        """UPDATE day_request_items SET outcome = ?, process_id = ?, message = ?
        WHERE request_id = ? AND remote_inv_id = ?""",
        (*logged, request_id, inverter),
    )
    await tx.execute(
        "UPDATE day_submissions SET "  # noqa: S608 (fixed fragments above, values bound)
        + state_sql
        + """, updated_at = ?
        WHERE remote_inv_id = ? AND request_id = ? AND state = 'sending'""",
        (*params, now, inverter, request_id),
    )


def _submission(row: Row) -> DaySubmission:
    return DaySubmission(
        remote_inv_id=row["remote_inv_id"],
        day=date.fromisoformat(row["day"]),
        state=row["state"],
        kwh_sent=optional_decimal(row["kwh_sent"]),
        accumulated_sent=optional_decimal(row["accumulated_sent"]),
        process_id=row["process_id"],
        processing_status=row["processing_status"],
        attempts=row["attempts"],
        last_error=row["last_error"],
        accepted_kwh=optional_decimal(row["accepted_kwh"]),
        accepted_accumulated=optional_decimal(row["accepted_accumulated"]),
    )
