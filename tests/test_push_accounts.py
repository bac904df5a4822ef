"""Many accounts on one ledger (SPEC §14): an account's push leaves the others' requests alone.

Pushes of several accounts run side by side, in one process or in replicas. A request another
account has in flight belongs to that account's lease holder, who may be waiting for REDEX's
answer right now: recovering it as orphaned would make its answer land on a closed request
and send its months again. Its ProcessIds are that account's to follow, too.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from fusionbridge.app import open_fleet
from fusionbridge.clock import SystemClock
from fusionbridge.core.models import Device, Month, Plant, SubmissionState
from fusionbridge.core.outcomes import Sent
from fusionbridge.jobs.lease import command_lease
from fusionbridge.jobs.push import push
from fusionbridge.settings import Settings
from fusionbridge.simulator.redex import API_KEY, CLIENT_ID, CLIENT_SECRET, RedexSimulator
from fusionbridge.store.day_submissions import DayRecordOut


def _account(name: str, remote_inv_id: str, device_id: int) -> dict[str, Any]:
    return {
        "name": name,
        "fusionsolar": {
            "base_url": "http://127.0.0.1:9",  # never called: the inventory is in the ledger
            "username": f"{name}-api",
            "system_code": f"{name}-system-code",
        },
        "inverters": [{"remote_inv_id": remote_inv_id, "device_id": device_id}],
    }


async def test_a_push_follows_and_recovers_only_its_own_accounts_requests(
    tmp_path: Path, ledger_target: Path | str
) -> None:
    clock = SystemClock()
    redex = RedexSimulator(clock=clock, rate_limit=1000, rate_period_s=1.0)
    redex.register("N-1", "S-1")
    now = clock.now()
    month = Month.containing(now, ZoneInfo("UTC")).shift(-3)
    storage = (
        {"path": str(ledger_target)} if isinstance(ledger_target, Path) else {"url": ledger_target}
    )
    async with redex.serve() as redex_url:
        config: dict[str, Any] = {
            "timezone": "UTC",
            "redex": {
                "base_url": redex_url,
                "client_id": CLIENT_ID,
                "client_secret": CLIENT_SECRET,
                "api_key": API_KEY,
                "timeout_s": 5,
            },
            "storage": storage,
            "accounts": [_account("north", "N-1", 1001), _account("south", "S-1", 2001)],
        }
        settings = Settings(**config)
        async with open_fleet(settings, clock=clock) as fleet:
            north, south = fleet.runtime("north"), fleet.runtime("south")
            await north.ledger.inventory.save(
                [Plant("NE=1", "N")], [Device(1001, "NE=1", 1, "n")], now
            )
            await south.ledger.inventory.save(
                [Plant("NE=2", "S")], [Device(2001, "NE=2", 1, "s")], now
            )
            # south: a month REDEX is processing, a month in flight, a day in flight
            sent = await south.ledger.submissions.begin_request(
                [("S-1", month, Decimal("12.500"))], "[]", now
            )
            await south.ledger.submissions.finish_request(
                sent, {("S-1", month): Sent(7_000_001)}, now
            )
            flying = await south.ledger.submissions.begin_request(
                [("S-1", month.next(), Decimal("13.500"))], "[]", now
            )
            day = (now - timedelta(days=40)).date()
            await south.ledger.days.begin_day_request(
                [DayRecordOut("S-1", day, Decimal("1.500"), Decimal("101.500"))], "[]", now
            )

            async with command_lease(north, wait_s=1):
                await push(north, wait_s=0)

            assert redex.count("statuses") == 0, "north followed south's ProcessId"
            assert [r.id for r in await south.ledger.submissions.in_flight()] == [flying]
            states = {r.month: r.state for r in await south.ledger.submissions.records(["S-1"])}
            assert states == {month: SubmissionState.SENT, month.next(): SubmissionState.SENDING}
            assert [d.state for d in await south.ledger.days.day_submissions(["S-1"])] == [
                "sending"
            ]
            # south's own push recovers its request, sends that month once more (SPEC §10) and
            # follows both ProcessIds
            async with command_lease(south, wait_s=1):
                await push(south, wait_s=0)
            assert (redex.count("monthly_data"), redex.count("statuses")) == (1, 2)
            assert await south.ledger.submissions.in_flight() == []
            assert [d.state for d in await south.ledger.days.day_submissions(["S-1"])] == [
                "unconfirmed"
            ]
