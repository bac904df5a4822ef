"""Live plant figures (today, lifetime, health, hourly curve) with their fetch times, for people.

These values never feed a submission: they come from the real-time and hour/year interfaces
and are kept only so the page, /status and the metrics can show them without calling upstream.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from fusionbridge.clock import Clock
from fusionbridge.core.models import EnergyReading, Month, SourceRef
from fusionbridge.core.models import SubmissionState as KnownState
from fusionbridge.store.columns import (
    instant,
    instant_text,
    optional_decimal,
    optional_decimal_text,
)
from fusionbridge.store.database import Database
from fusionbridge.store.energy import _reading
from fusionbridge.store.leases import DEFAULT_ACCOUNT
from fusionbridge.store.submissions import SubmissionRecord, _record


@dataclass(frozen=True, slots=True)
class PlantLive:
    """One plant's real-time figures as last fetched."""

    plant_code: str
    today_kwh: Decimal | None
    month_kwh: Decimal | None
    lifetime_kwh: Decimal | None
    health: int | None
    fetched_at: datetime


@dataclass(frozen=True, slots=True)
class HourValue:
    """One hourly bucket of a plant's yield, as FusionSolar gave it."""

    plant_code: str
    hour_start: datetime
    kwh: Decimal
    fetched_at: datetime


@dataclass(frozen=True, slots=True)
class YearValue:
    plant_code: str
    year: int
    kwh: Decimal
    fetched_at: datetime


@dataclass(frozen=True, slots=True)
class SubmissionState:
    """A submission row's state as stored text, so a state this version does not know still shows."""

    remote_inv_id: str
    month: str
    state: str
    last_error: str | None
    drift_kwh: Decimal | None
    process_id: int | None


class LiveRecords:
    """Write and read the live figures; each save is one committed transaction."""

    def __init__(self, db: Database, clock: Clock, account: str = DEFAULT_ACCOUNT) -> None:
        self._db = db
        self.clock = clock
        self.account = account

    async def save_plant_live(self, rows: Iterable[PlantLive]) -> None:
        async with self._db.transaction() as tx:
            await tx.executemany(
                """INSERT INTO plant_live
                (plant_code, today_kwh, month_kwh, lifetime_kwh, health, fetched_at)
                VALUES (?, ?, ?, ?, ?, ?)
                ON CONFLICT (plant_code) DO UPDATE SET today_kwh = excluded.today_kwh,
                    month_kwh = excluded.month_kwh, lifetime_kwh = excluded.lifetime_kwh,
                    health = excluded.health, fetched_at = excluded.fetched_at""",
                [
                    (
                        r.plant_code,
                        optional_decimal_text(r.today_kwh),
                        optional_decimal_text(r.month_kwh),
                        optional_decimal_text(r.lifetime_kwh),
                        r.health,
                        instant_text(r.fetched_at),
                    )
                    for r in rows
                ],
            )

    async def save_hourly(
        self, plant_codes: Sequence[str], day_start: datetime, rows: Iterable[HourValue]
    ) -> None:
        """Replace today's curve of the given plants (a bucket Huawei no longer lists is dropped)."""
        async with self._db.transaction() as tx:
            for code in plant_codes:
                await tx.execute(
                    "DELETE FROM plant_hourly WHERE plant_code = ? AND hour_start >= ?",
                    (code, instant_text(day_start)),
                )
            await tx.executemany(
                """INSERT INTO plant_hourly (plant_code, hour_start, kwh, fetched_at)
                VALUES (?, ?, ?, ?)
                ON CONFLICT (plant_code, hour_start) DO UPDATE SET kwh = excluded.kwh,
                    fetched_at = excluded.fetched_at""",
                [
                    (
                        r.plant_code,
                        instant_text(r.hour_start),
                        str(r.kwh),
                        instant_text(r.fetched_at),
                    )
                    for r in rows
                ],
            )

    async def save_yearly(self, rows: Iterable[YearValue]) -> None:
        async with self._db.transaction() as tx:
            await tx.executemany(
                """INSERT INTO plant_yearly (plant_code, year, kwh, fetched_at)
                VALUES (?, ?, ?, ?)
                ON CONFLICT (plant_code, year) DO UPDATE SET kwh = excluded.kwh,
                    fetched_at = excluded.fetched_at""",
                [(r.plant_code, r.year, str(r.kwh), instant_text(r.fetched_at)) for r in rows],
            )

    async def mark_live_fetch(self, kind: str, at: datetime) -> None:
        async with self._db.transaction() as tx:
            await tx.execute(
                """INSERT INTO live_fetches (account, kind, fetched_at) VALUES (?, ?, ?)
                ON CONFLICT (account, kind) DO UPDATE SET fetched_at = excluded.fetched_at""",
                (self.account, kind, instant_text(at)),
            )

    async def live_fetches(self) -> dict[str, datetime]:
        rows = await self._db.fetchall(
            "SELECT kind, fetched_at FROM live_fetches WHERE account = ?", (self.account,)
        )
        return {row["kind"]: instant(row["fetched_at"]) for row in rows}

    async def plant_live(self) -> dict[str, PlantLive]:
        rows = await self._db.fetchall("SELECT * FROM plant_live ORDER BY plant_code")
        return {
            row["plant_code"]: PlantLive(
                plant_code=row["plant_code"],
                today_kwh=optional_decimal(row["today_kwh"]),
                month_kwh=optional_decimal(row["month_kwh"]),
                lifetime_kwh=optional_decimal(row["lifetime_kwh"]),
                health=row["health"],
                fetched_at=instant(row["fetched_at"]),
            )
            for row in rows
        }

    async def hourly_since(self, since: datetime) -> dict[str, list[HourValue]]:
        rows = await self._db.fetchall(
            """SELECT plant_code, hour_start, kwh, fetched_at FROM plant_hourly
            WHERE hour_start >= ? ORDER BY plant_code, hour_start""",
            (instant_text(since),),
        )

        def parse() -> dict[str, list[HourValue]]:
            result: dict[str, list[HourValue]] = {}
            for row in rows:
                result.setdefault(row["plant_code"], []).append(
                    HourValue(
                        row["plant_code"],
                        instant(row["hour_start"]),
                        Decimal(row["kwh"]),
                        instant(row["fetched_at"]),
                    )
                )
            return result

        return await asyncio.to_thread(parse)

    async def yearly(self) -> dict[str, list[YearValue]]:
        rows = await self._db.fetchall(
            "SELECT plant_code, year, kwh, fetched_at FROM plant_yearly ORDER BY plant_code, year"
        )
        result: dict[str, list[YearValue]] = {}
        for row in rows:
            result.setdefault(row["plant_code"], []).append(
                YearValue(
                    row["plant_code"], row["year"], Decimal(row["kwh"]), instant(row["fetched_at"])
                )
            )
        return result

    async def submission_states(self) -> dict[tuple[str, str], SubmissionState]:
        """Every submission row's stored state as text (the page shows states it does not know)."""
        rows = await self._db.fetchall(
            """SELECT remote_inv_id, month, state, last_error, drift_kwh, process_id
            FROM submissions"""
        )
        return await asyncio.to_thread(
            lambda: {
                (row["remote_inv_id"], row["month"]): SubmissionState(
                    row["remote_inv_id"],
                    row["month"],
                    row["state"],
                    row["last_error"],
                    optional_decimal(row["drift_kwh"]),
                    row["process_id"],
                )
                for row in rows
            }
        )

    async def readable_submissions(self) -> list[SubmissionRecord]:
        """The submission records whose state this version knows (the rest: `submission_states`)."""
        rows = await self._db.fetchall(
            """SELECT s.*, i.kwh AS requested_kwh FROM submissions AS s
            LEFT JOIN push_request_items AS i ON i.request_id = s.request_id
                AND i.remote_inv_id = s.remote_inv_id AND i.month = s.month
            WHERE s.state IN (SELECT value FROM json_each(?1))
            ORDER BY s.remote_inv_id, s.month""",
            (json.dumps([state.value for state in KnownState]),),
        )
        return await asyncio.to_thread(lambda: [_record(row) for row in rows])

    async def monthly_since(
        self, sources: Iterable[SourceRef], first: Month
    ) -> dict[tuple[SourceRef, Month], EnergyReading]:
        """Monthly readings of `sources` from `first` on, parsed off the event loop."""
        rows = await self._db.fetchall(
            """SELECT source, month, kwh, raw, key, fetched_at FROM monthly_energy
            WHERE month >= ?1 AND source IN (SELECT value FROM json_each(?2))""",
            (str(first), json.dumps(sorted({str(s) for s in sources}))),
        )

        def parse() -> dict[tuple[SourceRef, Month], EnergyReading]:
            result = {}
            for row in rows:
                source, month = SourceRef.parse(row["source"]), Month.parse(row["month"])
                result[source, month] = _reading(row, source, month)
            return result

        return await asyncio.to_thread(parse)
