"""REDEX daily generation data (`generation-datas/batches`) as pure values: body out, answer in.

Numbers go out as decimal strings with exactly three decimals, as every upstream example
writes them; the text logged in the ledger is the text sent.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Final

from fusionbridge.core.models import KWH_QUANTUM

BATCHES_PATH: Final = "/public/v2/generation-datas/batches"
PERIOD_FIELD: Final = "PeriodProductionInKWh"
ACCUMULATED_FIELD: Final = "AccumulatedEnergyInKWh"


@dataclass(frozen=True, slots=True)
class DeviceDays:
    """One remote inverter's records in a request: (day, kWh, accumulated kWh), ascending."""

    remote_inv_id: str
    records: tuple[tuple[date, Decimal, Decimal], ...]

    def __post_init__(self) -> None:
        if not self.remote_inv_id:
            raise ValueError("remote_inv_id must not be empty")
        if not self.records:
            raise ValueError(f"{self.remote_inv_id}: a device carries at least one day")
        days = [day for day, _, _ in self.records]
        if days != sorted(set(days)):
            raise ValueError(f"{self.remote_inv_id}: days must be ascending and distinct")
        for day, kwh, accumulated in self.records:
            for value in (kwh, accumulated):
                if not value.is_finite() or value < 0 or value != value.quantize(KWH_QUANTUM):
                    raise ValueError(f"{self.remote_inv_id} {day}: {value} is not a 3-decimal kWh")


def kwh_text(value: Decimal) -> str:
    """Exactly three decimals; the value was rounded once, before it got here."""
    return format(value.quantize(KWH_QUANTUM), "f")


def dumps_batch(devices: Sequence[DeviceDays]) -> str:
    """The exact JSON text of one batches request: one device per line."""
    seen: set[str] = set()
    lines = []
    for device in devices:
        if device.remote_inv_id in seen:
            raise ValueError(f"{device.remote_inv_id} appears twice in one request")
        seen.add(device.remote_inv_id)
        records = ", ".join(
            "{"
            + f'"Timestamp": "{day.isoformat()}", "{PERIOD_FIELD}": "{kwh_text(kwh)}", '
            + f'"{ACCUMULATED_FIELD}": "{kwh_text(accumulated)}"'
            + "}"
            for day, kwh, accumulated in device.records
        )
        lines.append(f'{{"RemoteInvId": {json.dumps(device.remote_inv_id)}, "Data": [{records}]}}')
    return '{"Devices": [\n' + ",\n".join(lines) + "\n]}"


def record_count(devices: Sequence[DeviceDays]) -> int:
    return sum(len(d.records) for d in devices)
