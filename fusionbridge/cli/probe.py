"""`fusionbridge probe`: FusionSolar's communication test, one paced call per interface (SPEC §13).

Each step says what came back or why it failed; a later step that needs an earlier one's
answer is skipped, not guessed. Calls go through the same paced client as everything else, so
a second probe right after the first waits for each endpoint's window instead of drawing a 407.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from fusionbridge.app import Runtime, open_runtime
from fusionbridge.core.models import KpiRow, Month, Plant
from fusionbridge.errors import (
    DailyCapError,
    FusionBridgeError,
    FusionSolarApiError,
    FusionSolarLoginError,
    FusionSolarRateLimited,
    SourceNotFoundError,
)
from fusionbridge.fusionsolar import wire
from fusionbridge.jobs.lease import DEFAULT_LEASE_WAIT_S, command_lease
from fusionbridge.jobs.live import YIELD_KEYS
from fusionbridge.settings import Settings

FAIL_MEANINGS: dict[int, str] = {
    305: "not logged in or the session expired (another client may use this account)",
    401: "this API account may not use the interface: ask the installer to grant it",
    407: "called too often: wait for the interface's window (fusionbridge paces this itself)",
    20001: "unknown API user: check fusionsolar.username",
    20002: "API account forbidden by Huawei",
    20003: "API account expired: its deadline has passed",
    20004: "FusionSolar server abnormal: try again later",
    20006: "some devices do not match devTypeId",
    20013: "device type not supported by this interface",
    20014: "more than 100 plants in one call",
    20015: "more than 100 plants in one call",
    20016: "more than 100 devices in one call",
    20017: "more than 100 devices in one call",
    20026: "outside the 365 days FusionSolar serves",
    20056: "the plant owner has not authorised this API account",
    20200: "FusionSolar is busy: try again later",
    20400: "wrong user or system code, account locked, or too many sessions",
    20403: "login of this API user is restricted",
    20618: "this interface's daily call cap is spent: it works again tomorrow",
    30006: "page size out of range",
    30008: "FusionSolar internal call failed: try again later",
}


def meaning(code: int | None) -> str:
    """What a failCode means for the person running the probe."""
    if code is None:
        return "FusionSolar refused the login (an empty answer means wrong credentials)"
    return FAIL_MEANINGS.get(code, "not in Huawei's documented list")


def inside_month(month: Month, zone: ZoneInfo) -> datetime:
    """The 15th at 12:00 local: inside the month in `zone` and in every zone within ±14 h."""
    return datetime(month.year, month.month, 15, 12, tzinfo=zone)


def inside_year(year: int, zone: ZoneInfo, now: datetime) -> datetime:
    """Inside `year`: mid-month of its newest month not after now, so it stays within 365 days."""
    current = Month.containing(now, zone)
    return inside_month(current if current.year == year else Month(year, 12), zone)


@dataclass
class Step:
    """One line of the probe: the interface, whether it worked, what came back."""

    name: str
    ok: bool | None = None
    summary: str = ""
    data: object = None
    fail_code: int | None = None

    def line(self) -> str:
        mark = {True: "✓", False: "✗", None: "-"}[self.ok]
        return f"{mark} {self.name}: {self.summary}"

    def as_json(self) -> dict[str, Any]:
        return {
            "step": self.name,
            "ok": self.ok,
            "summary": self.summary,
            "fail_code": self.fail_code,
            "data": self.data,
        }


def _fail_code(exc: FusionBridgeError) -> int | None:
    if isinstance(exc, FusionSolarApiError | FusionSolarLoginError):
        return exc.fail_code
    if isinstance(exc, DailyCapError):
        return int(wire.FailCode.DAILY_CAP)
    if isinstance(exc, FusionSolarRateLimited):
        return int(wire.FailCode.ACCESS_FREQUENCY)
    return None


def _failed(step: Step, exc: FusionBridgeError) -> None:
    step.ok = False
    step.fail_code = _fail_code(exc)
    if step.fail_code in FAIL_MEANINGS:
        step.summary = f"failCode {step.fail_code}: {meaning(step.fail_code)}"
    elif step.fail_code is not None:
        step.summary = f"failCode {step.fail_code}: {meaning(step.fail_code)} ({exc})"
    else:
        step.summary = str(exc)


def _kwh(value: Decimal) -> str:
    return f"{value:,.3f} kWh"


def _production(rows: list[KpiRow]) -> tuple[int, Decimal]:
    """How many buckets carry a production value, and their sum."""
    found = [
        value
        for row in rows
        if (
            value := next(
                (row.values[k] for k in YIELD_KEYS if row.values.get(k) is not None), None
            )
        )
        is not None
    ]
    return len(found), sum(found, Decimal(0))


def summarise_real(rows: list[KpiRow]) -> str:
    if not rows:
        return "no real-time values for this plant"
    v = rows[0].values
    today, lifetime = v.get("day_power"), v.get("total_power")
    parts = [
        f"today {_kwh(today)}" if today is not None else "today: no value",
        f"lifetime {_kwh(lifetime)}" if lifetime is not None else None,
        f"health {int(h)}" if (h := v.get("real_health_state")) is not None else None,
    ]
    return ", ".join(p for p in parts if p)


def summarise_buckets(rows: list[KpiRow], unit: str, period: str) -> str:
    count, total = _production(rows)
    return f"{count} {unit} values for {period}, {_kwh(total)}"


class Probe:
    """Runs the steps in order against one runtime; `steps` holds what each found."""

    def __init__(self, rt: Runtime, plant: str | None) -> None:
        self.rt = rt
        self.wanted = plant
        self.steps: list[Step] = []
        self.plant: Plant | None = None

    def _zone(self, code: str) -> ZoneInfo:
        for entry in self.rt.settings.inverters:
            if entry.plant_code == code and entry.timezone:
                return ZoneInfo(entry.timezone)
        return self.rt.settings.zone()

    async def _step(self, name: str, run: Callable[[Step], Awaitable[None]]) -> bool:
        step = Step(name)
        self.steps.append(step)
        try:
            await run(step)
        except FusionBridgeError as exc:
            _failed(step, exc)
        else:
            step.ok = True
        return bool(step.ok)

    def _skip(self, *names: str, why: str) -> None:
        self.steps.extend(Step(name, None, f"skipped: {why}") for name in names)

    async def run(self) -> bool:
        client = self.rt.fusionsolar
        names = (
            "plant list",
            "getStationRealKpi",
            "getKpiStationHour",
            "getKpiStationDay",
            "getKpiStationMonth",
            "getKpiStationYear",
            "getDevList",
        )
        if not await self._step("login", self._login):
            self._skip(*names, why="no FusionSolar session")
            return False
        if not await self._step("plant list", self._plants) or self.plant is None:
            self._skip(*names[1:], why="no plant to test with")
            return False
        code, zone = self.plant.code, self._zone(self.plant.code)
        now = self.rt.clock.now()
        today = now.astimezone(zone).date()
        yesterday = today - timedelta(days=1)

        async def real(step: Step) -> None:
            step.data = await client.call_raw("getStationRealKpi", wire.plants_body([code]))
            step.summary = summarise_real(wire.parse_kpi_rows(step.data, "stationCode", now))

        async def buckets(step: Step, endpoint: str, at: datetime, unit: str, period: str) -> None:
            step.data = await client.call_raw(endpoint, wire.plant_kpi_body([code], at))
            rows = wire.parse_kpi_rows(step.data, "stationCode")
            step.summary = summarise_buckets(rows, unit, period)

        noon = datetime.combine(yesterday, time(12), tzinfo=zone)
        month = Month.of(today)
        await self._step("getStationRealKpi", real)
        await self._step(
            "getKpiStationHour",
            lambda s: buckets(s, "getKpiStationHour", noon, "hourly", yesterday.isoformat()),
        )
        await self._step(
            "getKpiStationDay",
            lambda s: buckets(s, "getKpiStationDay", inside_month(month, zone), "daily", str(month)),
        )  # fmt: skip
        await self._step(
            "getKpiStationMonth",
            lambda s: buckets(
                s, "getKpiStationMonth", inside_year(today.year, zone, now), "monthly",
                str(today.year),
            ),
        )  # fmt: skip
        await self._step(
            "getKpiStationYear",
            lambda s: buckets(s, "getKpiStationYear", now, "yearly", f"up to {today.year}"),
        )
        await self._step("getDevList", self._devices)
        return all(step.ok for step in self.steps)

    async def _login(self, step: Step) -> None:
        before = self.rt.fusionsolar.calls.get("login", 0)
        await self.rt.fusionsolar.ensure_session()
        fresh = self.rt.fusionsolar.calls.get("login", 0) > before
        step.summary = "logged in" if fresh else "the stored session token is still valid"

    async def _plants(self, step: Step) -> None:
        client = self.rt.fusionsolar
        try:
            step.data = await client.call_raw("stations", wire.stations_body(1))
            plants, _ = wire.parse_stations_page(step.data)
            step.name = "stations"
        except FusionSolarApiError as exc:
            if exc.fail_code != wire.FailCode.NO_PERMISSION:
                raise
            step.data = await client.call_raw("getStationList", {})
            plants = wire.parse_station_list(step.data)
            step.name = "getStationList"
        chosen = [p for p in plants if self.wanted in (None, p.code)]
        if not chosen:
            wanted = f"plant {self.wanted} is not" if self.wanted else "no plant is"
            raise SourceNotFoundError(f"{wanted} in the account's list of {len(plants)} plants")
        self.plant = chosen[0]
        step.summary = f"{len(plants)} plants; testing {self.plant.code} ({self.plant.name})"

    async def _devices(self, step: Step) -> None:
        code = self.plant.code if self.plant else ""
        step.data = await self.rt.fusionsolar.call_raw("getDevList", wire.plants_body([code]))
        devices = wire.parse_devices(step.data)
        inverters = sum(1 for d in devices if d.is_inverter)
        step.summary = f"{len(devices)} devices, {inverters} inverters"


async def probe_command(settings: Settings, args: argparse.Namespace) -> int:
    """`probe [--plant CODE] [--json]`: exit 0 only if every step succeeded."""
    wait_s: float = getattr(args, "lease_wait", DEFAULT_LEASE_WAIT_S)
    async with open_runtime(settings) as rt, command_lease(rt, wait_s):
        probe = Probe(rt, args.plant)
        ok = await probe.run()
    if args.json:
        document = {
            "ok": ok,
            "plant": probe.plant.code if probe.plant else None,
            "steps": [step.as_json() for step in probe.steps],
        }
        print(json.dumps(document, indent=2, default=str))
    else:
        for step in probe.steps:
            print(step.line())
        verdict = "every step succeeded" if ok else "some steps failed"
        print(f"\n{verdict}", file=sys.stdout)
    return 0 if ok else 1
