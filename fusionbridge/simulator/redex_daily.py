"""The REDEX simulator's daily endpoint (`generation-datas/batches`), as strict as the monthly one.

400 for a body that breaks the documented shape: records as strings with exactly three
decimals, days ascending, a RemoteInvId at most once per request, at most 3000 records in all.
422 for an unknown inverter or one registered Monthly (`must send {Monthly} generation data`).
Accepted records land in `accepted_days` with last-write-wins, the documented assumption.
"""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from aiohttp import web

from fusionbridge.redex.daily_wire import ACCUMULATED_FIELD, PERIOD_FIELD

if TYPE_CHECKING:
    from fusionbridge.simulator.redex import RedexSimulator

MAX_RECORDS = 3000
_KWH_TEXT = re.compile(r"^\d+\.\d{3}$")
_RECORD_FIELDS = {"Timestamp", PERIOD_FIELD, ACCUMULATED_FIELD}


def malformed_batch(body: Any) -> str | None:
    """The 400 message for a body that is not a well-formed batches request, else None."""
    if not isinstance(body, dict) or set(body) != {"Devices"}:
        return "The request body must be an object with exactly the field Devices"
    devices = body["Devices"]
    if not isinstance(devices, list) or not devices:
        return "Devices must be a non-empty array"
    seen: set[str] = set()
    total = 0
    for index, device in enumerate(devices):
        where = f"Devices[{index}]"
        if not isinstance(device, dict) or set(device) != {"RemoteInvId", "Data"}:
            return f"{where} must have exactly the fields RemoteInvId and Data"
        remote_inv_id, data = device["RemoteInvId"], device["Data"]
        if not isinstance(remote_inv_id, str) or not remote_inv_id:
            return f"{where}.RemoteInvId must be a non-empty string"
        if remote_inv_id in seen:
            return f"{where}: RemoteInvId {remote_inv_id} appears twice in one request"
        seen.add(remote_inv_id)
        if not isinstance(data, list) or not data:
            return f"{where}.Data must be a non-empty array"
        previous: date | None = None
        for n, record in enumerate(data):
            problem = _bad_record(record, previous)
            if problem is not None:
                return f"{where}.Data[{n}] {problem}"
            previous = date.fromisoformat(record["Timestamp"])
        total += len(data)
    if total > MAX_RECORDS:
        return f"at most {MAX_RECORDS} records per request, not {total}"
    return None


def _bad_record(record: Any, previous: date | None) -> str | None:
    if not isinstance(record, dict) or set(record) != _RECORD_FIELDS:
        return f"must have exactly the fields {', '.join(sorted(_RECORD_FIELDS))}"
    stamp = record["Timestamp"]
    try:
        day = date.fromisoformat(stamp) if isinstance(stamp, str) and len(stamp) == 10 else None
    except ValueError:
        day = None
    if day is None:
        return "Timestamp must be a date YYYY-MM-DD"
    if previous is not None and day <= previous:
        return "days must be ascending"
    for field in (PERIOD_FIELD, ACCUMULATED_FIELD):
        value = record[field]
        if not isinstance(value, str) or not _KWH_TEXT.match(value):
            return f"{field} must be a string with exactly 3 decimal places"
    return None


def unprocessable_devices(sim: RedexSimulator, body: dict[str, Any]) -> list[dict[str, Any]]:
    """422 errors for devices that are unknown or registered Monthly."""
    errors = []
    for index, device in enumerate(body["Devices"]):
        frequency = sim.inverters.get(device["RemoteInvId"])
        if frequency == "Daily":
            continue
        if frequency is None:
            message = f"RemoteInvId {device['RemoteInvId']} is not registered"
        else:
            message = f"must send {{{frequency}}} generation data"
        errors.append(
            {"Key": f"Devices[{index}].RemoteInvId", "Message": message, "Messages": [message]}
        )
    return errors


def apply_batch(sim: RedexSimulator, body: dict[str, Any]) -> None:
    """Last write wins per (RemoteInvId, day): the overwrite fusionbridge assumes."""
    for device in body["Devices"]:
        for record in device["Data"]:
            key = (device["RemoteInvId"], date.fromisoformat(record["Timestamp"]))
            sim.accepted_days[key] = (
                Decimal(record[PERIOD_FIELD]),
                Decimal(record[ACCUMULATED_FIELD]),
            )


async def batches(sim: RedexSimulator, request: web.Request, body: Any) -> web.Response:
    """The handler body: validate, refuse or queue a process, as the monthly endpoint does."""
    from fusionbridge.simulator.redex import _envelope, _Process

    problem = malformed_batch(body)
    if problem is not None:
        return _envelope(400, problem)
    errors = unprocessable_devices(sim, body)
    if errors:
        return _envelope(422, "One or more validation errors occurred.", errors=errors)
    process_id = next(sim._process_ids)
    fails = any(d["RemoteInvId"] in sim.failing for d in body["Devices"])
    sim.processes[process_id] = _Process(fails, sim.clock.now())
    if not fails:
        apply_batch(sim, body)
    return _envelope(201, "Created", data={"ProcessId": process_id})
