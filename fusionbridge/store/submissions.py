"""Per remote inverter and month, what went to REDEX, and the append-only log of every request.

A push is two transactions around the HTTP request: `begin_request` records the exact payload
and marks its months `sending` before anything leaves; `finish_request` records the answer. A
crash in between leaves the request in `in_flight()`: it may or may not have reached REDEX, so
the lease holder that finds it marks its months `unconfirmed` and the next push re-sends them
once (see the overwrite assumption in `fusionbridge.jobs`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from fusionbridge.clock import Clock
from fusionbridge.core.models import Month, SubmissionState
from fusionbridge.core.outcomes import Failed, Outcome, Pending, Rejected, Sent, Unconfirmed
from fusionbridge.errors import LedgerError
from fusionbridge.store.columns import (
    decimal,
    decimal_text,
    instant,
    instant_text,
    optional_decimal,
    optional_decimal_text,
    optional_instant,
)
from fusionbridge.store.database import Database, Row, Transaction

_RECORDS = """SELECT s.*, i.kwh AS requested_kwh FROM submissions AS s
    LEFT JOIN push_request_items AS i ON i.request_id = s.request_id
        AND i.remote_inv_id = s.remote_inv_id AND i.month = s.month
    ORDER BY s.remote_inv_id, s.month"""
_RECORDS_OF = """SELECT s.*, i.kwh AS requested_kwh FROM submissions AS s
    LEFT JOIN push_request_items AS i ON i.request_id = s.request_id
        AND i.remote_inv_id = s.remote_inv_id AND i.month = s.month
    WHERE s.remote_inv_id IN (SELECT value FROM json_each(?))
    ORDER BY s.remote_inv_id, s.month"""
SUCCESS = "Success"
FAILED = "Failed"
"""REDEX processing statuses that end a process; `New` and `Processing` do not."""


ItemOutcome = Outcome
"""The one outcome type: what the wire made of REDEX's answer, recorded per month here."""
ItemKey = tuple[str, Month]


@dataclass(frozen=True, slots=True)
class RequestItem:
    """One month of one remote inverter inside a logged request, with its outcome once known."""

    remote_inv_id: str
    month: Month
    kwh: Decimal
    outcome: str | None = None
    process_id: int | None = None
    message: str | None = None


@dataclass(frozen=True, slots=True)
class PushRequest:
    """A monthly-data request exactly as sent; `finished_at` None means no answer was recorded."""

    id: int
    payload_json: str
    begun_at: datetime
    finished_at: datetime | None
    items: tuple[RequestItem, ...]


@dataclass(frozen=True, slots=True)
class SubmissionRecord:
    """Where one remote inverter's month stands with REDEX.

    `value_sent` is the last value REDEX acknowledged with a ProcessId; `requested_kwh` the value
    in the latest request that carried the month, whatever came of it: while `sending` or `due`,
    that is the value that may have reached REDEX.
    """

    remote_inv_id: str
    month: Month
    state: SubmissionState
    value_sent: Decimal | None
    sent_at: datetime | None
    process_id: int | None
    processing_status: str | None
    attempts: int
    last_error: str | None
    accepted_kwh: Decimal | None
    accepted_at: datetime | None
    drift_kwh: Decimal | None
    request_id: int | None
    requested_kwh: Decimal | None
    updated_at: datetime
    unconfirmed_runs: int = 0


class SubmissionRecords:
    """Each operation is one transaction, so a kill between two leaves a consistent ledger."""

    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self.clock = clock

    async def begin_request(
        self, items: Sequence[tuple[str, Month, Decimal]], payload_json: str, at: datetime
    ) -> int:
        """Log the payload and mark its months `sending`, before the request leaves; its id."""
        keys = [(inv, month) for inv, month, _ in items]
        if not items or len(set(keys)) != len(keys):
            raise ValueError("a request carries at least one item and each month once")
        now = instant_text(at)
        async with self._db.transaction() as tx:
            request_id = await tx.insert(
                "INSERT INTO push_requests (payload, begun_at) VALUES (?, ?)", (payload_json, now)
            )
            await tx.executemany(
                """INSERT INTO push_request_items (request_id, remote_inv_id, month, kwh)
                VALUES (?, ?, ?, ?)""",
                [(request_id, inv, str(month), decimal_text(kwh)) for inv, month, kwh in items],
            )
            await tx.executemany(
                """INSERT INTO submissions
                    (remote_inv_id, month, state, attempts, request_id, updated_at)
                VALUES (?, ?, 'sending', 1, ?, ?)
                ON CONFLICT (remote_inv_id, month) DO UPDATE SET state = 'sending',
                    attempts = submissions.attempts + 1, request_id = excluded.request_id,
                    updated_at = excluded.updated_at""",
                [(inv, str(month), request_id, now) for inv, month, _ in items],
            )
        return request_id

    async def finish_request(
        self, request_id: int, outcomes: Mapping[ItemKey, Outcome], at: datetime
    ) -> None:
        """Record REDEX's answer per month; a month with no outcome given counts as Pending."""
        await self._finish(request_id, outcomes, Pending("no outcome was recorded"), at)

    async def abandon_request(self, request_id: int, at: datetime, reason: str) -> None:
        """Close a request a crash left in flight; its months are unconfirmed (re-sent once)."""
        await self._finish(request_id, {}, Unconfirmed(reason), at)

    async def hold(self, remote_inv_id: str, month: Month, reason: str, at: datetime) -> bool:
        """Mark a month `held` with its reason (a hard check failed); whether anything changed."""
        async with self._db.transaction() as tx:
            changed = await tx.execute(
                """INSERT INTO submissions (remote_inv_id, month, state, last_error, updated_at)
                VALUES (?, ?, 'held', ?, ?)
                ON CONFLICT (remote_inv_id, month) DO UPDATE SET state = 'held',
                    last_error = excluded.last_error, updated_at = excluded.updated_at
                WHERE submissions.state <> 'sending' AND (submissions.state <> 'held'
                    OR submissions.last_error IS DISTINCT FROM excluded.last_error)""",
                (remote_inv_id, str(month), reason, instant_text(at)),
            )
        return changed == 1

    async def _finish(
        self,
        request_id: int,
        outcomes: Mapping[ItemKey, Outcome],
        default: Outcome,
        at: datetime,
    ) -> None:
        async with self._db.transaction() as tx:
            items = await _unfinished_items(tx, request_id)
            unknown = set(outcomes) - set(items)
            if unknown:
                names = ", ".join(sorted(f"{inv} {month}" for inv, month in unknown))
                raise LedgerError(f"request {request_id} did not carry {names}")
            for key, kwh in items.items():
                await _apply(tx, request_id, key, kwh, outcomes.get(key, default), at)
            await tx.execute(
                "UPDATE push_requests SET finished_at = ? WHERE id = ?",
                (instant_text(at), request_id),
            )

    async def record_processing(
        self, process_id: int, status: str, at: datetime, message: str | None = None
    ) -> list[ItemKey]:
        """Apply a polled processing status; the months it settled (accepted or rejected).

        `Success` accepts what that process carried: accepted value = value sent. `Failed`
        marks the months failed (REDEX looked at the data and refused it), with `message`: they
        go out again only when their value changes or with `push --force`.
        Other statuses only update `processing_status`.
        """
        now = instant_text(at)
        async with self._db.transaction() as tx:
            if status == SUCCESS:
                # every month this process carried, even one a newer request now owns
                await tx.execute(
                    """UPDATE submissions SET accepted_kwh = value_sent, accepted_at = ?2,
                        drift_kwh = NULL, processing_status = ?1
                    WHERE process_id = ?3 AND processing_status IS DISTINCT FROM ?1""",
                    (SUCCESS, now, process_id),
                )
                return await _settle(tx, process_id, status, SubmissionState.ACCEPTED, None, now)
            if status == FAILED:
                error = message or "REDEX processing status Failed"
                return await _settle(tx, process_id, status, SubmissionState.FAILED, error, now)
            await tx.execute(
                """UPDATE submissions SET processing_status = ?, updated_at = ?
                WHERE process_id = ? AND state = 'sent'""",
                (status, now, process_id),
            )
            return []

    async def set_drift(
        self, remote_inv_id: str, month: Month, drift_kwh: Decimal | None, at: datetime
    ) -> None:
        """Note how far upstream moved from an accepted (frozen) month; None clears it."""
        async with self._db.transaction() as tx:
            changed = await tx.execute(
                "UPDATE submissions SET drift_kwh = ?, updated_at = ? "
                "WHERE remote_inv_id = ? AND month = ?",
                (optional_decimal_text(drift_kwh), instant_text(at), remote_inv_id, str(month)),
            )
            if changed != 1:
                raise LedgerError(f"no submission for {remote_inv_id} {month}")

    async def records(self, remote_inv_ids: Iterable[str] | None = None) -> list[SubmissionRecord]:
        """Submission records by (remote inverter, month); only the given inverters if any."""
        if remote_inv_ids is None:
            rows = await self._db.fetchall(_RECORDS)
        else:
            rows = await self._db.fetchall(
                _RECORDS_OF,
                (json.dumps(sorted(set(remote_inv_ids))),),
            )
        return [_record(row) for row in rows]

    async def open_process_ids(self, remote_inv_ids: Iterable[str] | None = None) -> list[int]:
        """ProcessIds whose months were sent and are not yet accepted or rejected (of the given
        inverters only, if any: one account's, SPEC §14)."""
        if remote_inv_ids is None:
            rows = await self._db.fetchall(
                """SELECT DISTINCT process_id FROM submissions
                WHERE state = 'sent' AND process_id IS NOT NULL ORDER BY process_id"""
            )
        else:
            rows = await self._db.fetchall(
                """SELECT DISTINCT process_id FROM submissions
                WHERE state = 'sent' AND process_id IS NOT NULL
                    AND remote_inv_id IN (SELECT value FROM json_each(?))
                ORDER BY process_id""",
                (json.dumps(sorted(set(remote_inv_ids))),),
            )
        return [int(row[0]) for row in rows]

    async def in_flight(self, remote_inv_ids: Iterable[str] | None = None) -> list[PushRequest]:
        """Requests begun and never finished: the process died while they were out (of those
        carrying the given inverters only, if any: one account's requests, SPEC §14)."""
        requests = await self._requests(unfinished_only=True)
        if remote_inv_ids is None:
            return requests
        mine = set(remote_inv_ids)
        return [r for r in requests if any(item.remote_inv_id in mine for item in r.items)]

    async def request_log(self) -> list[PushRequest]:
        """Every request ever begun, oldest first, with per-item outcomes."""
        return await self._requests(unfinished_only=False)

    async def _requests(self, *, unfinished_only: bool) -> list[PushRequest]:
        async with self._db.snapshot() as tx:
            heads = await tx.fetchall(
                """SELECT id, payload, begun_at, finished_at FROM push_requests
                WHERE NOT ?1 OR finished_at IS NULL ORDER BY id""",
                (unfinished_only,),
            )
            rows = await tx.fetchall(
                """SELECT i.request_id, i.remote_inv_id, i.month, i.kwh, i.outcome,
                    i.process_id, i.message
                FROM push_request_items AS i JOIN push_requests AS r ON r.id = i.request_id
                WHERE NOT ?1 OR r.finished_at IS NULL
                ORDER BY i.request_id, i.remote_inv_id, i.month""",
                (unfinished_only,),
            )
        items: dict[int, list[RequestItem]] = {}
        for row in rows:
            items.setdefault(row["request_id"], []).append(
                RequestItem(
                    remote_inv_id=row["remote_inv_id"],
                    month=Month.parse(row["month"]),
                    kwh=decimal(row["kwh"]),
                    outcome=row["outcome"],
                    process_id=row["process_id"],
                    message=row["message"],
                )
            )
        return [
            PushRequest(
                id=row["id"],
                payload_json=row["payload"],
                begun_at=instant(row["begun_at"]),
                finished_at=optional_instant(row["finished_at"]),
                items=tuple(items.get(row["id"], ())),
            )
            for row in heads
        ]


async def _unfinished_items(tx: Transaction, request_id: int) -> dict[ItemKey, Decimal]:
    head = await tx.fetchone("SELECT finished_at FROM push_requests WHERE id = ?", (request_id,))
    if head is None:
        raise LedgerError(f"no push request {request_id}")
    if head["finished_at"] is not None:
        raise LedgerError(f"push request {request_id} is already finished")
    rows = await tx.fetchall(
        "SELECT remote_inv_id, month, kwh FROM push_request_items WHERE request_id = ?",
        (request_id,),
    )
    return {(row[0], Month.parse(row[1])): decimal(row[2]) for row in rows}


async def _apply(
    tx: Transaction, request_id: int, key: ItemKey, kwh: Decimal, outcome: ItemOutcome, at: datetime
) -> None:
    """Log one item's outcome and move its month on, unless a later request owns it by now."""
    inv, month = key[0], str(key[1])
    now = instant_text(at)
    logged: tuple[str, int | None, str | None]
    match outcome:
        case Sent(process_id):
            logged = ("sent", process_id, None)
            state_sql = """state = 'sent', value_sent = ?, sent_at = ?, process_id = ?,
                processing_status = NULL, last_error = NULL, unconfirmed_runs = 0"""
            params: tuple[object, ...] = (decimal_text(kwh), now, process_id)
        case Rejected(message):
            logged = ("rejected", None, message)
            state_sql = "state = 'rejected', last_error = ?, unconfirmed_runs = 0"
            params = (message,)
        case Failed(message):
            logged = ("failed", None, message)
            state_sql, params = "state = 'failed', last_error = ?, unconfirmed_runs = 0", (message,)
        case Unconfirmed(message):
            logged = ("unconfirmed", None, message)
            state_sql = (
                "state = 'unconfirmed', last_error = ?, unconfirmed_runs = unconfirmed_runs + 1"
            )
            params = (message,)
        case Pending(message):
            logged = ("pending", None, message)
            state_sql, params = "state = 'due', last_error = ?", (message,)
    await tx.execute(
        """UPDATE push_request_items SET outcome = ?, process_id = ?, message = ?
        WHERE request_id = ? AND remote_inv_id = ? AND month = ?""",
        (*logged, request_id, inv, month),
    )
    await tx.execute(
        "UPDATE submissions SET "  # noqa: S608 (fixed fragments above, values bound)
        + state_sql
        + """, updated_at = ?
        WHERE remote_inv_id = ? AND month = ? AND request_id = ? AND state = 'sending'""",
        (*params, now, inv, month, request_id),
    )


async def _settle(
    tx: Transaction,
    process_id: int,
    status: str,
    state: SubmissionState,
    error: str | None,
    now: str,
) -> list[ItemKey]:
    rows = await tx.fetchall(
        """UPDATE submissions SET state = ?, processing_status = ?, last_error = ?, updated_at = ?
        WHERE process_id = ? AND state = 'sent' RETURNING remote_inv_id, month""",
        (state.value, status, error, now, process_id),
    )
    return sorted((row[0], Month.parse(row[1])) for row in rows)


def _record(row: Row) -> SubmissionRecord:
    return SubmissionRecord(
        remote_inv_id=row["remote_inv_id"],
        month=Month.parse(row["month"]),
        state=SubmissionState(row["state"]),
        value_sent=optional_decimal(row["value_sent"]),
        sent_at=optional_instant(row["sent_at"]),
        process_id=row["process_id"],
        processing_status=row["processing_status"],
        attempts=row["attempts"],
        last_error=row["last_error"],
        accepted_kwh=optional_decimal(row["accepted_kwh"]),
        accepted_at=optional_instant(row["accepted_at"]),
        drift_kwh=optional_decimal(row["drift_kwh"]),
        request_id=row["request_id"],
        requested_kwh=optional_decimal(row["requested_kwh"]),
        updated_at=instant(row["updated_at"]),
        unconfirmed_runs=row["unconfirmed_runs"],
    )
