"""Cross-check findings per source and month, replaced at every check so `status` shows today's."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from fusionbridge.clock import Clock
from fusionbridge.core.models import Month, SourceRef
from fusionbridge.core.readings import Finding, FindingKind
from fusionbridge.store.columns import instant_text, period, period_text
from fusionbridge.store.database import Database


class FindingRecords:
    """What the last cross-check of each (source, month) found; an empty check clears it."""

    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self.clock = clock

    async def replace(
        self, source: SourceRef, month: Month, findings: Iterable[Finding], at: datetime
    ) -> None:
        rows = [
            (
                str(source),
                str(month),
                f.kind.value,
                period_text(f.period),
                f.message,
                instant_text(at),
            )
            for f in findings
        ]
        async with self._db.transaction() as tx:
            await tx.execute(
                "DELETE FROM findings WHERE source = ? AND month = ?", (str(source), str(month))
            )
            await tx.executemany(
                """INSERT INTO findings (source, month, kind, period, message, found_at)
                VALUES (?, ?, ?, ?, ?, ?)
                ON CONFLICT (source, month, kind, period) DO UPDATE
                SET message = excluded.message, found_at = excluded.found_at""",
                rows,
            )

    async def load(self) -> dict[tuple[SourceRef, Month], list[Finding]]:
        rows = await self._db.fetchall(
            "SELECT source, month, kind, period, message FROM findings ORDER BY source, month, period"
        )
        result: dict[tuple[SourceRef, Month], list[Finding]] = {}
        for row in rows:
            source = SourceRef.parse(row["source"])
            result.setdefault((source, Month.parse(row["month"])), []).append(
                Finding(FindingKind(row["kind"]), source, period(row["period"]), row["message"])
            )
        return result
