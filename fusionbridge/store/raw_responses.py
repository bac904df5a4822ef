"""Raw FusionSolar answers kept as evidence, linked from the readings they produced (SPEC §15)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime

from fusionbridge.clock import Clock
from fusionbridge.core.models import EnergyReading, Month, SourceRef
from fusionbridge.evidence.raw import (
    CODEC,
    RawResponse,
    TracedReading,
    compress,
    decompress,
    sha256_hex,
)
from fusionbridge.store.columns import (
    decimal,
    instant,
    instant_text,
    optional_decimal,
    period,
    period_text,
)
from fusionbridge.store.database import Database, Row, Transaction


@dataclass(frozen=True, slots=True)
class StoredRaw:
    """A kept answer: `body` decompressed, byte for byte as FusionSolar sent it."""

    id: int
    endpoint: str
    request: str
    fetched_at: datetime
    sha256: str
    body: bytes = field(repr=False)


@dataclass(frozen=True, slots=True)
class Trace:
    """Everything the ledger knows about one source's month, for an evidence bundle."""

    month: TracedReading | None
    days: tuple[TracedReading, ...]
    history: tuple[TracedReading, ...]


@dataclass(frozen=True, slots=True)
class PackedResponse:
    """An answer ready to store: hashed and compressed before its transaction, off the loop."""

    response: RawResponse
    sha256: str
    stored: bytes = field(repr=False)


async def pack_responses(responses: Sequence[RawResponse]) -> list[PackedResponse]:
    """Hash and compress in a worker thread: bz2 takes ~10 ms an answer, which on the event loop
    and inside the write transaction held up every other account's writes."""
    if not responses:
        return []
    return await asyncio.to_thread(
        lambda: [PackedResponse(r, sha256_hex(r.body), compress(r.body)) for r in responses]
    )


async def insert_raw_responses(tx: Transaction, packed: Sequence[PackedResponse]) -> dict[str, int]:
    """Keep each answer once (compressed, hashed); which answer id carried each object id."""
    links: dict[str, int] = {}
    for item in packed:
        response = item.response
        raw_id = await tx.insert(
            """INSERT INTO raw_responses
                (endpoint, request, fetched_at, sha256, size, codec, body)
            VALUES (?, ?, ?, ?, ?, ?, ?)""",
            (
                response.endpoint,
                response.request,
                instant_text(response.fetched_at),
                item.sha256,
                len(response.body),
                CODEC,
                item.stored,
            ),
        )
        links.update(dict.fromkeys(response.object_ids, raw_id))
    return links


class RawResponseRecords:
    """Read back, trace and prune the kept FusionSolar answers."""

    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self.clock = clock

    async def raw_responses(self, ids: Iterable[int]) -> list[StoredRaw]:
        """The kept answers with these ids, by id; pruned ones are simply absent."""
        wanted = sorted(set(ids))
        if not wanted:
            return []
        rows = await self._db.fetchall(
            "SELECT id, endpoint, request, fetched_at, sha256, codec, body FROM raw_responses "
            "WHERE id IN (SELECT CAST(value AS INTEGER) FROM json_each(?)) ORDER BY id",
            (json.dumps(wanted),),
        )
        return [
            StoredRaw(
                row["id"],
                row["endpoint"],
                row["request"],
                instant(row["fetched_at"]),
                row["sha256"],
                decompress(row["body"], row["codec"]),
            )
            for row in rows
        ]

    async def trace(self, source: SourceRef, month: Month) -> Trace:
        """The month value, its day values and every value it ever had, each with its answer id."""
        return (await self.traces([source], month))[source]

    async def traces(self, sources: Iterable[SourceRef], month: Month) -> dict[SourceRef, Trace]:
        """`trace` for many sources at once: three statements, whatever their number."""
        wanted = sorted({str(s) for s in sources})
        keys = json.dumps(wanted)
        async with self._db.snapshot() as tx:
            heads = await tx.fetchall(
                """SELECT source, month AS period, kwh, raw, key, fetched_at, raw_response_id,
                    NULL AS previous_kwh FROM monthly_energy
                WHERE month = ? AND source IN (SELECT value FROM json_each(?))""",
                (str(month), keys),
            )
            days = await tx.fetchall(
                """SELECT source, day AS period, kwh, raw, key, fetched_at, raw_response_id,
                    NULL AS previous_kwh FROM daily_energy
                WHERE day BETWEEN ? AND ? AND source IN (SELECT value FROM json_each(?))
                ORDER BY source, day""",
                (month.first_day().isoformat(), month.last_day().isoformat(), keys),
            )
            history = await tx.fetchall(
                """SELECT source, period, kwh, raw, key, fetched_at, raw_response_id, previous_kwh
                FROM energy_history
                WHERE period = ? AND source IN (SELECT value FROM json_each(?)) ORDER BY id""",
                (period_text(month), keys),
            )
        head_of = {row["source"]: _traced(row) for row in heads}
        days_of: dict[str, list[TracedReading]] = {}
        for row in days:
            days_of.setdefault(row["source"], []).append(_traced(row))
        history_of: dict[str, list[TracedReading]] = {}
        for row in history:
            history_of.setdefault(row["source"], []).append(_traced(row))
        return {
            SourceRef.parse(source): Trace(
                head_of.get(source),
                tuple(days_of.get(source, ())),
                tuple(history_of.get(source, ())),
            )
            for source in wanted
        }

    async def prune_raw_responses(self, before: datetime) -> int:
        """Drop answers fetched before `before`; readings keep the id of what was pruned."""
        async with self._db.transaction() as tx:
            return await tx.execute(
                "DELETE FROM raw_responses WHERE fetched_at < ?", (instant_text(before),)
            )

    async def daily_between(self, first: date, last: date) -> dict[SourceRef, list[EnergyReading]]:
        """Every day value from `first` to `last` by source, for `export --days`."""
        rows = await self._db.fetchall(
            """SELECT source, day, kwh, raw, key, fetched_at FROM daily_energy
            WHERE day BETWEEN ? AND ? ORDER BY source, day""",
            (first.isoformat(), last.isoformat()),
        )
        result: dict[SourceRef, list[EnergyReading]] = {}
        for row in rows:
            source = SourceRef.parse(row["source"])
            result.setdefault(source, []).append(
                EnergyReading(
                    source,
                    date.fromisoformat(row["day"]),
                    decimal(row["kwh"]),
                    row["raw"],
                    row["key"],
                    instant(row["fetched_at"]),
                )
            )
        return result

    async def raw_response_count(self) -> int:
        row = await self._db.fetchone("SELECT count(*) FROM raw_responses")
        return int(row[0]) if row else 0


def _traced(row: Row) -> TracedReading:
    return TracedReading(
        period=period(row["period"]),
        kwh=decimal(row["kwh"]),
        raw=row["raw"],
        key=row["key"],
        fetched_at=instant(row["fetched_at"]),
        raw_response_id=row["raw_response_id"],
        previous_kwh=optional_decimal(row["previous_kwh"]),
    )
