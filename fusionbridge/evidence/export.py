"""`export`: the ledger's months (or days) per remote inverter as CSV or JSON, for reports.

Rows come from the same lines as `status --json`, so the two always agree. States are the
ledger's own strings: a state added later (held, unconfirmed …) flows through unchanged.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Sequence
from datetime import date
from typing import Any

from fusionbridge.core.models import EnergyReading, Month, SourceRef
from fusionbridge.daemon.status import InverterLines, MonthLine

MONTH_COLUMNS: tuple[str, ...] = (
    "remote_inv_id",
    "source",
    "month",
    "kwh",
    "state",
    "process_id",
    "processing_status",
    "drift_kwh",
    "deadline",
    "deadline_days_left",
    "last_error",
)
DAY_COLUMNS: tuple[str, ...] = (
    "remote_inv_id",
    "source",
    "date",
    "kwh",
    "month_state",
    "process_id",
    "processing_status",
)
Row = dict[str, Any]


def in_range(month: Month, first: Month | None, last: Month | None) -> bool:
    return (first is None or first <= month) and (last is None or month <= last)


def month_rows(
    inverters: Iterable[InverterLines], first: Month | None = None, last: Month | None = None
) -> list[Row]:
    """One row per remote inverter and month, each value as `status --json` writes it."""
    rows = []
    for inverter in inverters:
        for line in inverter.months:
            if not in_range(line.month, first, last):
                continue
            shown = line.as_json()
            rows.append(
                {
                    "remote_inv_id": inverter.remote_inv_id,
                    "source": inverter.source,
                    "month": shown["month"],
                    "kwh": shown["kwh"],
                    "state": shown["state"],
                    "process_id": shown["process_id"],
                    "processing_status": shown["processing_status"],
                    "drift_kwh": shown["drift_kwh"],
                    "deadline": shown["deadline"],
                    "deadline_days_left": shown["deadline_days_left"],
                    "last_error": shown["last_error"],
                }
            )
    return rows


def day_rows(
    inverters: Iterable[InverterLines],
    days: dict[SourceRef, list[EnergyReading]],
    first: Month | None = None,
    last: Month | None = None,
) -> list[Row]:
    """One row per remote inverter and day with a value; a day carries its month's state."""
    rows = []
    for inverter in inverters:
        source = _source(inverter.source)
        lines: dict[Month, MonthLine] = {line.month: line for line in inverter.months}
        for reading in days.get(source, []) if source else []:
            day = reading.period
            if not isinstance(day, date) or not in_range(Month.of(day), first, last):
                continue
            line = lines.get(Month.of(day))
            rows.append(
                {
                    "remote_inv_id": inverter.remote_inv_id,
                    "source": inverter.source,
                    "date": day.isoformat(),
                    "kwh": f"{reading.kwh:.3f}",
                    "month_state": line.state.value if line else None,
                    "process_id": line.process_id if line else None,
                    "processing_status": line.processing_status if line else None,
                }
            )
    return rows


def render(rows: Sequence[Row], columns: Sequence[str], fmt: str) -> str:
    """CSV with a header row (empty cells for nulls), or one JSON array of objects."""
    if fmt == "json":
        return json.dumps(rows, indent=2) + "\n"
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(columns), lineterminator="\n")
    writer.writeheader()
    writer.writerows({k: "" if v is None else v for k, v in row.items()} for row in rows)
    return out.getvalue()


def _source(text: str) -> SourceRef | None:
    try:
        return SourceRef.parse(text)
    except ValueError:
        return None  # not resolved yet: no day values can belong to it
