"""What a daily inverter's evidence needs from the ledger: REDEX's answers to day requests and the
baseline counter's FusionSolar answer, as received, and which request carried each day with what
came of it (SPEC §11, §15)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from fusionbridge.clock import Clock
from fusionbridge.evidence.raw import RawResponse
from fusionbridge.store.columns import decimal, instant, instant_text
from fusionbridge.store.database import Database
from fusionbridge.store.raw_responses import insert_raw_responses, pack_responses
from fusionbridge.store.redex_log import RedexAnswer


@dataclass(frozen=True, slots=True)
class DayItem:
    """One day of one remote inverter inside one logged day request."""

    request_id: int
    remote_inv_id: str
    day: date
    kwh: Decimal
    accumulated_kwh: Decimal
    outcome: str | None
    process_id: int | None
    message: str | None


@dataclass(frozen=True, slots=True)
class LoggedDayRequest:
    """A batches request exactly as logged before it left."""

    id: int
    payload: str
    begun_at: datetime
    finished_at: datetime | None


class DayEvidenceRecords:
    """Append-only answers per day request, and read-only views of the day request log."""

    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self.clock = clock

    async def record_day_answer(
        self, request_id: int, http_status: int, body: str, at: datetime
    ) -> None:
        """Keep the answer to a logged day request; the first one recorded stands."""
        async with self._db.transaction() as tx:
            await tx.execute(
                """INSERT INTO day_answers (request_id, http_status, body, received_at)
                VALUES (?, ?, ?, ?) ON CONFLICT (request_id) DO NOTHING""",
                (request_id, http_status, body, instant_text(at)),
            )

    async def keep_counter_answers(
        self, responses: Sequence[RawResponse], baselines: Mapping[str, str]
    ) -> None:
        """Keep the lifetime-counter answers once each; link each new baseline (remote inverter
        to devId or stationCode) to the answer that carried its counter."""
        packed = await pack_responses(responses)
        async with self._db.transaction() as tx:
            links = await insert_raw_responses(tx, packed)
            for remote_inv_id, object_id in sorted(baselines.items()):
                if object_id in links:
                    await tx.execute(
                        """INSERT INTO day_baseline_answers (remote_inv_id, raw_response_id)
                        VALUES (?, ?) ON CONFLICT (remote_inv_id) DO NOTHING""",
                        (remote_inv_id, links[object_id]),
                    )

    async def counter_answer_ids(self) -> dict[str, int]:
        """Per remote inverter, the kept answer its baseline's counter was read from."""
        rows = await self._db.fetchall(
            "SELECT remote_inv_id, raw_response_id FROM day_baseline_answers"
        )
        return {row[0]: int(row[1]) for row in rows}

    async def day_answers(self, request_ids: Iterable[int]) -> dict[int, RedexAnswer]:
        wanted = sorted(set(request_ids))
        if not wanted:
            return {}
        rows = await self._db.fetchall(
            "SELECT request_id, http_status, body, received_at FROM day_answers "
            "WHERE request_id IN (SELECT CAST(value AS INTEGER) FROM json_each(?))",
            (json.dumps(wanted),),
        )
        return {
            row["request_id"]: RedexAnswer(
                row["request_id"], row["http_status"], row["body"], instant(row["received_at"])
            )
            for row in rows
        }

    async def day_items(
        self, remote_inv_ids: Iterable[str], first: date, last: date
    ) -> list[DayItem]:
        """Every logged record of these inverters from `first` to `last`, by request then day."""
        rows = await self._db.fetchall(
            """SELECT request_id, remote_inv_id, day, kwh, accumulated_kwh, outcome, process_id,
                message FROM day_request_items
            WHERE day BETWEEN ? AND ? AND remote_inv_id IN (SELECT value FROM json_each(?))
            ORDER BY request_id, remote_inv_id, day""",
            (first.isoformat(), last.isoformat(), json.dumps(sorted(set(remote_inv_ids)))),
        )
        return [
            DayItem(
                row["request_id"],
                row["remote_inv_id"],
                date.fromisoformat(row["day"]),
                decimal(row["kwh"]),
                decimal(row["accumulated_kwh"]),
                row["outcome"],
                row["process_id"],
                row["message"],
            )
            for row in rows
        ]

    async def day_requests(self, ids: Iterable[int]) -> list[LoggedDayRequest]:
        """The logged day requests with these ids, by id."""
        wanted = sorted(set(ids))
        if not wanted:
            return []
        rows = await self._db.fetchall(
            "SELECT id, payload, begun_at, finished_at FROM day_requests "
            "WHERE id IN (SELECT CAST(value AS INTEGER) FROM json_each(?)) ORDER BY id",
            (json.dumps(wanted),),
        )
        return [
            LoggedDayRequest(
                row["id"],
                row["payload"],
                instant(row["begun_at"]),
                instant(row["finished_at"]) if row["finished_at"] is not None else None,
            )
            for row in rows
        ]
