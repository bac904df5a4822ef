"""One account's push sees only its own requests and processes (SPEC §14), on both backends.

Accounts share the submission tables (a remote inverter id is unique across accounts), so the
queries a push uses to recover and to follow take the account's inverters; left out, they
answer for every inverter as before.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from fusionbridge.clock import VirtualClock
from fusionbridge.core.models import Month
from fusionbridge.core.outcomes import Sent
from fusionbridge.store import Ledger
from fusionbridge.store.day_submissions import DayRecordOut

T0 = datetime(2026, 11, 2, 6, 30, tzinfo=UTC)
NORTH, SOUTH = "RM-NORTH-1", "RM-SOUTH-1"
OCTOBER = Month(2026, 10)


@pytest.fixture
async def ledger(ledger_target: Path | str) -> AsyncIterator[Ledger]:
    async with Ledger.open(ledger_target, VirtualClock(T0)) as opened:
        yield opened


async def test_open_process_ids_of_some_inverters_only(ledger: Ledger) -> None:
    for process_id, inverter in ((11, NORTH), (12, SOUTH)):
        item = [(inverter, OCTOBER, Decimal("5.000"))]
        request = await ledger.submissions.begin_request(item, json.dumps([inverter]), T0)
        await ledger.submissions.finish_request(
            request, {(inverter, OCTOBER): Sent(process_id)}, T0
        )

    assert await ledger.submissions.open_process_ids() == [11, 12]
    assert await ledger.submissions.open_process_ids([NORTH]) == [11]
    assert await ledger.submissions.open_process_ids([SOUTH, "RM-ELSEWHERE"]) == [12]
    assert await ledger.submissions.open_process_ids([]) == []


async def test_day_requests_recovered_and_followed_per_inverter(ledger: Ledger) -> None:
    day = date(2026, 11, 1)
    north = await ledger.days.begin_day_request(
        [DayRecordOut(NORTH, day, Decimal("1.000"), Decimal("10.000"))], "[1]", T0
    )
    south = await ledger.days.begin_day_request(
        [DayRecordOut(SOUTH, day, Decimal("2.000"), Decimal("20.000"))], "[2]", T0
    )
    await ledger.days.finish_day_request(south, {SOUTH: Sent(21)}, T0)
    late = await ledger.days.begin_day_request(
        [DayRecordOut(SOUTH, date(2026, 11, 2), Decimal("3.000"), Decimal("23.000"))], "[3]", T0
    )

    assert await ledger.days.open_day_process_ids([NORTH]) == []
    assert await ledger.days.open_day_process_ids([SOUTH]) == [21]
    # north's lease vouches for north's open request only: south's may be in flight right now
    assert await ledger.days.recover_day_requests(T0, "interrupted", [NORTH]) == [north]
    assert await ledger.days.recover_day_requests(T0, "interrupted", [NORTH]) == []
    assert await ledger.days.recover_day_requests(T0, "interrupted") == [late]
