"""The REDEX simulator's batches endpoint is as strict as its monthly one, and knows frequencies."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from fusionbridge.clock import VirtualClock
from fusionbridge.redex.daily_wire import BATCHES_PATH
from fusionbridge.redex.wire import GRANT_PATH, MONTHLY_PATH, STATUS_PATH
from fusionbridge.simulator.redex import API_KEY, CLIENT_ID, CLIENT_SECRET, RedexSimulator

GRANT = {
    "ApiKey": API_KEY,
    "GrantType": "api_key",
    "ClientId": CLIENT_ID,
    "ClientSecret": CLIENT_SECRET,
}


def record(day: str = "2025-03-01", kwh: Any = "1.250", acc: Any = "101.250") -> dict[str, Any]:
    return {"Timestamp": day, "PeriodProductionInKWh": kwh, "AccumulatedEnergyInKWh": acc}


def device(remote_inv_id: str = "DAY-1", *records: dict[str, Any]) -> dict[str, Any]:
    return {"RemoteInvId": remote_inv_id, "Data": list(records) or [record()]}


@pytest.fixture
def sim() -> RedexSimulator:
    clock = VirtualClock(datetime(2025, 3, 3, 7, 0, tzinfo=UTC))
    simulator = RedexSimulator(clock=clock, rate_limit=100, rate_period_s=1.0, phase_s=0.0)
    simulator.register("DAY-1", "DAY-2", frequency="Daily")
    simulator.register("MONTH-1")
    return simulator


@pytest.fixture
async def http(sim: RedexSimulator, aiohttp_client: Any) -> TestClient[Any, Any]:
    client: TestClient[Any, Any] = await aiohttp_client(sim.app)
    return client


async def post(http: TestClient[Any, Any], path: str, body: Any) -> tuple[int, dict[str, Any]]:
    grant = await (await http.post(GRANT_PATH, json=GRANT)).json()
    headers = {
        "Authorization": f"Bearer {grant['Data']['AccessToken']}",
        "Content-Type": "application/json",
    }
    response = await http.post(path, data=json.dumps(body), headers=headers)
    return response.status, await response.json()


async def test_a_well_formed_batch_is_taken_processed_and_applied(
    http: TestClient[Any, Any], sim: RedexSimulator
) -> None:
    body = {
        "Devices": [
            device("DAY-1", record("2025-03-01"), record("2025-03-02", "2.000", "103.250")),
            device("DAY-2"),
        ]
    }
    status, answer = await post(http, BATCHES_PATH, body)
    assert status == 201
    process_id = answer["Data"]["ProcessId"]
    assert sim.accepted_days[("DAY-1", date(2025, 3, 2))] == (Decimal("2.000"), Decimal("103.250"))
    assert len(sim.accepted_days) == 3
    grant = await (await http.post(GRANT_PATH, json=GRANT)).json()
    polled = await http.get(
        STATUS_PATH,
        params={"ProcessId": str(process_id)},
        headers={"Authorization": f"Bearer {grant['Data']['AccessToken']}"},
    )
    assert (await polled.json())["Data"]["Status"] in ("New", "Processing", "Success")


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ([device()], "exactly the field Devices"),
        ({"Devices": []}, "non-empty"),
        ({"Devices": [device("DAY-1", record(kwh=1.25))]}, "exactly 3 decimal places"),
        ({"Devices": [device("DAY-1", record(kwh="1.2500"))]}, "exactly 3 decimal places"),
        ({"Devices": [device("DAY-1", record(acc="101.25"))]}, "exactly 3 decimal places"),
        ({"Devices": [device("DAY-1", record(kwh="-1.000"))]}, "exactly 3 decimal places"),
        (
            {"Devices": [device("DAY-1", record("2025-03-02"), record("2025-03-01"))]},
            "ascending",
        ),
        ({"Devices": [device("DAY-1", record("03/01/2025"))]}, "YYYY-MM-DD"),
        ({"Devices": [device("DAY-1"), device("DAY-1", record("2025-03-09"))]}, "twice"),
        ({"Devices": [{"RemoteInvId": "DAY-1", "Data": [], "X": 1}]}, "exactly the fields"),
    ],
)
async def test_a_malformed_batch_is_refused_with_400(
    http: TestClient[Any, Any], sim: RedexSimulator, body: Any, problem: str
) -> None:
    status, answer = await post(http, BATCHES_PATH, body)
    assert status == 400
    assert problem in answer["Message"]
    assert sim.accepted_days == {}


async def test_more_than_3000_records_in_all_are_refused(http: TestClient[Any, Any]) -> None:
    start = date(2020, 1, 1)
    records = [record((start + timedelta(days=i)).isoformat()) for i in range(1501)]
    body = {"Devices": [device("DAY-1", *records), device("DAY-2", *records)]}
    status, answer = await post(http, BATCHES_PATH, body)
    assert status == 400
    assert "3000" in answer["Message"]
    body = {"Devices": [device("DAY-1", *records), device("DAY-2", *records[:1499])]}
    assert (await post(http, BATCHES_PATH, body))[0] == 201


async def test_frequencies_are_enforced_on_both_endpoints(
    http: TestClient[Any, Any], sim: RedexSimulator
) -> None:
    status, answer = await post(
        http, BATCHES_PATH, {"Devices": [device("DAY-1"), device("MONTH-1"), device("NOBODY")]}
    )
    assert status == 422
    errors = {e["Key"]: e["Message"] for e in answer["Errors"]}
    assert errors == {
        "Devices[1].RemoteInvId": "must send {Monthly} generation data",
        "Devices[2].RemoteInvId": "RemoteInvId NOBODY is not registered",
    }
    months = dict.fromkeys(["Jan", "Feb", "Mar", "Apr", "May", "Jun"], None) | dict.fromkeys(
        ["Jul", "Aug", "Sep", "Oct", "Nov", "Dec"], None
    )
    monthly = [
        {"RemoteInvId": "DAY-1", "Data": {"Year": 2025, "PeriodProductionPerMonthInKWh": months}}
    ]
    status, answer = await post(http, MONTHLY_PATH, monthly)
    assert status == 422
    assert answer["Errors"][0]["Message"] == "must send {Daily} generation data"
    assert sim.accepted_days == {}
