"""Daily-registered inverters on the pipeline rig: which entries, and what REDEX must hold."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from fusionbridge.core.models import round_kwh
from fusionbridge.simulator.fleet import kwh
from tests.pipeline_harness import Inverter, Pipeline

EAST, WEST = "Europe/Amsterdam", "America/Sao_Paulo"
"""Amsterdam (east of UTC, with DST) and São Paulo (west of UTC)."""


def daily_inverters(pipeline: Pipeline) -> list[dict[str, Any]]:
    """Two devices east and west of UTC and a plant source, all registered Daily."""
    entries: list[dict[str, Any]] = [
        {"remote_inv_id": "RM-DAILY-EAST-T1", "esn": pipeline.device(EAST, 1).esn},
        {"remote_inv_id": "RM-DAILY-WEST-T38", "device_id": pipeline.device(WEST, 38).id},
        {
            "remote_inv_id": "RM-DAILY-TOKYO-PLANT",
            "plant_code": pipeline.plant("Asia/Tokyo", 38).code,
        },
    ]
    for entry in entries:
        entry["timezone"] = pipeline.zone_of(entry)
        entry["frequency"] = "daily"
    return entries


def due_days(pipeline: Pipeline, entry: Inverter, first: date, now: datetime) -> list[date]:
    """Every day from `first` that has ended in the entry's zone and has a value."""
    source = pipeline._sim_source(entry)
    today = now.astimezone(ZoneInfo(pipeline.zone_of(entry))).date()
    days = []
    day = first
    while day < today:
        if pipeline.fusionsolar.expected_day_kwh(source, day, entry.get("metric")) is not None:
            days.append(day)
        day += timedelta(days=1)
    return days


def day_truth(
    pipeline: Pipeline, entry: Inverter, first: date, now: datetime
) -> dict[date, tuple[Decimal, Decimal]]:
    """(kWh, accumulated kWh) REDEX must hold per due day: the simulator's day and its counter."""
    source = pipeline._sim_source(entry)
    truth = {}
    for day in due_days(pipeline, entry, first, now):
        value = pipeline.fusionsolar.expected_day_kwh(source, day, entry.get("metric"))
        assert value is not None
        truth[day] = (round_kwh(value), kwh(pipeline.fusionsolar.fleet.lifetime_milli(source, day)))
    return truth


def held_days(pipeline: Pipeline, remote_inv_id: str) -> dict[date, tuple[Decimal, Decimal]]:
    """What the REDEX simulator holds for one remote inverter, by day."""
    return {
        day: values
        for (inv, day), values in pipeline.redex.accepted_days.items()
        if inv == remote_inv_id
    }


def batch_bodies(pipeline: Pipeline, *, status: int | None = 201) -> list[dict[str, Any]]:
    """Bodies of the batches requests REDEX answered with `status` (None: every answer)."""
    return [
        r.body
        for r in pipeline.redex.requests
        if r.endpoint == "batches"
        and isinstance(r.body, dict)
        and (status is None or r.status == status)
    ]


def records_sent(pipeline: Pipeline) -> list[tuple[str, str]]:
    """(RemoteInvId, Timestamp) of every record REDEX took, once per time it was taken."""
    return [
        (device["RemoteInvId"], record["Timestamp"])
        for body in batch_bodies(pipeline)
        for device in body["Devices"]
        for record in device["Data"]
    ]
