"""Child process of the ledger crash test: writes transactions until it is SIGKILLed.

After each commit it prints one line to stdout, so the parent knows what was committed. Like a
restarted daemon, it first abandons any request a previous kill left in flight, then continues
after the last step it logged. With a `hang_at` step it stops after that step's
`begin_request`, as if the HTTP request never came back.
"""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import date
from decimal import Decimal
from pathlib import Path

from fusionbridge.clock import SystemClock
from fusionbridge.core.models import DEVICE_METRIC, EnergyReading, Month, SourceKind, SourceRef
from fusionbridge.store import Ledger, Sent

MONTH = Month(2025, 1)
DAYS = (date(2025, 1, 1), date(2025, 1, 15), date(2025, 1, 31))


def source(step: int) -> SourceRef:
    return SourceRef(SourceKind.DEVICE, f"10000{step:05d}", DEVICE_METRIC)


def inverter(step: int) -> str:
    return f"RM-CRASH-INV{step:05d}"


def month_kwh(step: int) -> Decimal:
    return Decimal(step) + Decimal("0.125")


def day_kwh(step: int, day: date) -> Decimal:
    return Decimal(step) + Decimal(day.day) / 1000


def process_id(step: int) -> int:
    return 900_000 + step


def payload(step: int) -> str:
    return json.dumps({"RemoteInvId": inverter(step), "Jan": str(month_kwh(step))})


async def write_until_killed(path: Path | str, hang_at: int | None) -> None:
    clock = SystemClock()
    async with Ledger.open(path, clock) as ledger:
        for request in await ledger.submissions.in_flight():
            await ledger.submissions.abandon_request(
                request.id, clock.now(), "interrupted by a crash"
            )
            print("abandoned", request.id, flush=True)
        step = len(await ledger.submissions.request_log())
        while True:
            step += 1
            now = clock.now()
            readings = [
                EnergyReading(source(step), MONTH, month_kwh(step), "x", DEVICE_METRIC, now),
                *(
                    EnergyReading(source(step), d, day_kwh(step, d), "x", DEVICE_METRIC, now)
                    for d in DAYS
                ),
            ]
            await ledger.energy.save_readings(readings)
            print("readings", step, flush=True)
            items = [(inverter(step), MONTH, month_kwh(step))]
            request_id = await ledger.submissions.begin_request(items, payload(step), now)
            print("begun", step, request_id, flush=True)
            if step == hang_at:
                await asyncio.Event().wait()
            outcome = {(inverter(step), MONTH): Sent(process_id(step))}
            await ledger.submissions.finish_request(request_id, outcome, clock.now())
            print("finished", step, request_id, flush=True)


if __name__ == "__main__":
    hang = int(sys.argv[2]) if len(sys.argv) > 2 else None
    target = sys.argv[1]
    asyncio.run(write_until_killed(target if "://" in target else Path(target), hang))
