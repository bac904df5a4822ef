"""Daily and monthly kWh per source, with every value Huawei ever reported kept as history."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from functools import cache

from fusionbridge.clock import Clock
from fusionbridge.core.models import EnergyReading, Month, SourceRef
from fusionbridge.evidence.raw import RawResponse
from fusionbridge.store.columns import (
    decimal,
    decimal_text,
    instant,
    instant_text,
    period_text,
)
from fusionbridge.store.database import Database, Row, Transaction
from fusionbridge.store.raw_responses import insert_raw_responses, pack_responses


@dataclass(frozen=True, slots=True)
class ReadingChange:
    """A (source, period) whose stored value is new (`previous` None) or different."""

    source: SourceRef
    period: date | Month
    previous: Decimal | None
    kwh: Decimal


@dataclass(frozen=True, slots=True)
class _Table:
    """The SQL for one granularity; the column holding the period differs by table."""

    existing: str
    upsert: str


_DAILY = _Table(
    existing="""SELECT e.source, e.day, e.kwh FROM json_each(?) AS j
        JOIN daily_energy AS e
        ON e.source = json_extract(j.value, '$[0]') AND e.day = json_extract(j.value, '$[1]')""",
    upsert="""INSERT INTO daily_energy (source, day, kwh, raw, key, fetched_at, raw_response_id)
        VALUES (?, ?, ?, ?, ?, ?, ?)
        ON CONFLICT (source, day) DO UPDATE SET kwh = excluded.kwh, raw = excluded.raw,
            key = excluded.key, fetched_at = excluded.fetched_at,
            raw_response_id = excluded.raw_response_id""",
)
_MONTHLY = _Table(
    existing="""SELECT e.source, e.month, e.kwh FROM json_each(?) AS j
        JOIN monthly_energy AS e
        ON e.source = json_extract(j.value, '$[0]') AND e.month = json_extract(j.value, '$[1]')""",
    upsert="""INSERT INTO monthly_energy
            (source, month, kwh, raw, key, fetched_at, raw_response_id)
        VALUES (?, ?, ?, ?, ?, ?, ?)
        ON CONFLICT (source, month) DO UPDATE SET kwh = excluded.kwh, raw = excluded.raw,
            key = excluded.key, fetched_at = excluded.fetched_at,
            raw_response_id = excluded.raw_response_id""",
)


class EnergyRecords:
    """Readings are upserted in bulk: a year of 1,000 inverters is a handful of statements."""

    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self.clock = clock

    async def save_readings(
        self, readings: Iterable[EnergyReading], responses: Sequence[RawResponse] = ()
    ) -> list[ReadingChange]:
        """Upsert readings in one transaction; which (source, period) are new or changed.

        An unchanged value still refreshes raw text, key and `fetched_at` (the latest fetch that
        confirmed it); a new or changed one also appends a row to `energy_history`. The raw
        `responses` the readings came from are kept once each and linked from every row.
        """
        latest: dict[tuple[str, str], EnergyReading] = {}
        for reading in readings:
            latest[str(reading.source), period_text(reading.period)] = reading
        days = {k: r for k, r in latest.items() if not isinstance(r.period, Month)}
        months = {k: r for k, r in latest.items() if isinstance(r.period, Month)}
        packed = await pack_responses(responses)
        async with self._db.transaction() as tx:
            links = await insert_raw_responses(tx, packed)
            changes = await _save(tx, _DAILY, days, links)
            changes += await _save(tx, _MONTHLY, months, links)
        return changes

    async def monthly(
        self, sources: Iterable[SourceRef] | None = None, *, latest: int | None = None
    ) -> dict[tuple[SourceRef, Month], EnergyReading]:
        """Monthly readings, of every source or only of `sources`; only the `latest` N of each."""
        wanted = None if sources is None else json.dumps(sorted({str(s) for s in sources}))
        params = [p for p in (wanted, latest) if p is not None]
        rows = await self._db.fetchall(
            _MONTHLY_READS[wanted is not None, latest is not None], params
        )
        # Thousands of rows name a few distinct sources: parse each text once.
        source_of = cache(SourceRef.parse)
        result: dict[tuple[SourceRef, Month], EnergyReading] = {}
        for row in rows:
            source, month = source_of(row["source"]), Month.parse(row["month"])
            result[source, month] = _reading(row, source, month)
        return result

    async def daily(self, source: SourceRef, month: Month) -> list[EnergyReading]:
        """The month's daily readings of one source, by date; absent days are absent."""
        rows = await self._db.fetchall(
            """SELECT source, day, kwh, raw, key, fetched_at FROM daily_energy
            WHERE source = ? AND day BETWEEN ? AND ? ORDER BY day""",
            (str(source), month.first_day().isoformat(), month.last_day().isoformat()),
        )
        return [_reading(row, source, date.fromisoformat(row["day"])) for row in rows]

    async def history(
        self, source: SourceRef, period: date | Month
    ) -> list[tuple[EnergyReading, Decimal | None]]:
        """Every distinct value reported for one (source, period), oldest first, with the previous."""
        rows = await self._db.fetchall(
            """SELECT source, period, kwh, previous_kwh, raw, key, fetched_at FROM energy_history
            WHERE source = ? AND period = ? ORDER BY id""",
            (str(source), period_text(period)),
        )
        return [
            (
                _reading(row, source, period),
                None if row["previous_kwh"] is None else decimal(row["previous_kwh"]),
            )
            for row in rows
        ]


async def _save(
    tx: Transaction,
    table: _Table,
    readings: dict[tuple[str, str], EnergyReading],
    links: Mapping[str, int],
) -> list[ReadingChange]:
    if not readings:
        return []
    keys = json.dumps([list(key) for key in readings])
    stored = {
        (row[0], row[1]): decimal(row[2]) for row in await tx.fetchall(table.existing, (keys,))
    }
    changes: list[ReadingChange] = []
    history: list[tuple[str, str, str, str | None, str, str, str, int | None]] = []
    for key, reading in readings.items():
        previous = stored.get(key)
        if previous is not None and previous == reading.kwh:
            continue
        changes.append(ReadingChange(reading.source, reading.period, previous, reading.kwh))
        history.append(
            (
                *key,
                decimal_text(reading.kwh),
                None if previous is None else decimal_text(previous),
                reading.raw,
                reading.key,
                instant_text(reading.fetched_at),
                links.get(reading.source.id),
            )
        )
    await tx.executemany(
        table.upsert,
        [
            (
                *key,
                decimal_text(r.kwh),
                r.raw,
                r.key,
                instant_text(r.fetched_at),
                links.get(r.source.id),
            )
            for key, r in readings.items()
        ],
    )
    await tx.executemany(
        """INSERT INTO energy_history
            (source, period, kwh, previous_kwh, raw, key, fetched_at, raw_response_id)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?)""",
        history,
    )
    return changes


def _reading(row: Row, source: SourceRef, period: date | Month) -> EnergyReading:
    return EnergyReading(
        source=source,
        period=period,
        kwh=decimal(row["kwh"]),
        raw=row["raw"],
        key=row["key"],
        fetched_at=instant(row["fetched_at"]),
    )


_MONTHLY_READS = {
    (False, False): """SELECT source, month, kwh, raw, key, fetched_at FROM monthly_energy
        ORDER BY source, month""",
    (True, False): """SELECT source, month, kwh, raw, key, fetched_at FROM monthly_energy
        WHERE source IN (SELECT value FROM json_each(?))
        ORDER BY source, month""",
    (False, True): """SELECT source, month, kwh, raw, key, fetched_at FROM (
            SELECT *, ROW_NUMBER() OVER (PARTITION BY source ORDER BY month DESC) AS age
            FROM monthly_energy) AS newest
        WHERE age <= ?
        ORDER BY source, month""",
    (True, True): """SELECT source, month, kwh, raw, key, fetched_at FROM (
            SELECT *, ROW_NUMBER() OVER (PARTITION BY source ORDER BY month DESC) AS age
            FROM monthly_energy WHERE source IN (SELECT value FROM json_each(?))) AS newest
        WHERE age <= ?
        ORDER BY source, month""",
}
"""Monthly readings by (only some sources, only the latest N): fixed texts both backends run."""
