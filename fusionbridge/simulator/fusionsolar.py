"""An in-process FusionSolar northbound API that behaves like Huawei's, for tests, demo and benches.

It serves the deterministic fleet of `fleet.py` with zone-correct buckets and enforces what the
real service enforces: tokens that expire and are replaced by each login, the login limit and
lockout, per-endpoint windows (407), daily caps (20618), batching limits and the 365-day horizon.
Faults (502 pages, resets, slow answers, the platform's 403) are injected on demand. Time comes
from the injected clock, so a VirtualClock drives client and simulator together.
"""

from __future__ import annotations

import asyncio
import json
import math
import secrets
from collections import Counter
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Literal
from zoneinfo import ZoneInfo

from aiohttp import web

from fusionbridge.clock import Clock, SystemClock
from fusionbridge.core.models import Month
from fusionbridge.serving import served
from fusionbridge.settings import FusionSolarSettings
from fusionbridge.simulator.fleet import Fleet, FleetSpec, kwh, month_total
from fusionbridge.simulator.fusionsolar_endpoints import HANDLERS, Days, SimError
from fusionbridge.simulator.fusionsolar_oauth import OAuthSimConfig, SimOAuth

FaultKind = Literal["http502", "http403", "http429", "reset", "slow", "empty", "html200", "fail"]
PLANT_KPI = ("getKpiStationHour", "getKpiStationDay", "getKpiStationMonth", "getKpiStationYear")
DEVICE_KPI = ("getDevKpiDay", "getDevKpiMonth", "getDevKpiYear")
_HTML_502 = "<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>"
_QUOTA_403 = {
    "errorCode": "49401021002",
    "exceptionInfo": "Request is rejected by api quotaControl. key:/{endpoint}_POST",
}


@dataclass(frozen=True, slots=True)
class Fault:
    """A misbehaviour for the next `times` requests to `endpoint` (None: any data endpoint).

    A `slow` fault with a `gate` holds the request until the test sets it (then waits `delay_s`),
    for overlaps that must not depend on timing.
    """

    kind: FaultKind
    endpoint: str | None = None
    times: int = 1
    fail_code: int = 0
    delay_s: float = 0.0
    gate: asyncio.Event | None = field(default=None, compare=False)


@dataclass
class SimulatorConfig:
    """Credentials, fleet, and every limit; tiny windows and lifetimes make tests fast."""

    username: str = "api-user"
    system_code: str = "sim-system-code"
    fleet: FleetSpec = field(default_factory=FleetSpec)
    clock: Clock = field(default_factory=SystemClock)
    window_s: float = 0.0
    window_slack_s: float = 0.0
    token_lifetime_s: float = 1800.0
    login_limit: int = 5
    login_window_s: float = 600.0
    lockout_after: int = 5
    lockout_s: float = 1800.0
    daily_caps: Mapping[str, int] = field(default_factory=dict)
    quota_zone: str = "UTC"
    stations_allowed: bool = True
    station_list_allowed: bool = True
    token_in_header: bool = True
    token_in_cookie: bool = True
    history_days: int = 365
    oauth: OAuthSimConfig = field(default_factory=OAuthSimConfig)


@dataclass(frozen=True, slots=True)
class SimRequest:
    endpoint: str
    at: datetime
    body: Mapping[str, object]


class FusionSolarSimulator:
    """The fake service: `.app` to serve, `.requests`/`.logins`/`.calls` to inspect, truth API."""

    def __init__(self, config: SimulatorConfig | None = None) -> None:
        self.config = config or SimulatorConfig()
        self.clock = self.config.clock
        self.fleet = Fleet(self.config.fleet)
        self.requests: list[SimRequest] = []
        self.logins: list[tuple[datetime, str]] = []
        self.calls: Counter[str] = Counter()
        self.served: Counter[str] = Counter()
        self.in_flight = 0
        self.max_in_flight = 0
        self._pending: list[tuple[Fault, list[int]]] = []
        self._token: str | None = None
        self._token_issued: datetime | None = None
        self._bad_logins: list[datetime] = []
        self._locked_until: datetime | None = None
        self._last_call: dict[str, datetime] = {}
        self._day_counts: Counter[tuple[str, date]] = Counter()
        self.app = web.Application()
        self.app.router.add_post("/thirdData/{endpoint}", self._handle)
        self.oauth = SimOAuth(self.config.oauth, self.clock)
        self.oauth.register(self.app)

    # --- control and inspection ---------------------------------------------------------------

    def inject(self, *faults: Fault) -> None:
        """Queue faults; each applies to its next matching requests, in order."""
        self._pending.extend((fault, [fault.times]) for fault in faults)

    def expire_token(self) -> None:
        """Invalidate the current token now (as a login elsewhere would)."""
        self._token = None

    @asynccontextmanager
    async def serve(self, host: str = "127.0.0.1", port: int = 0) -> AsyncIterator[str]:
        """Serve on loopback (an ephemeral port by default) for the block; yield the base URL."""
        async with served(self.app, host, port) as url:
            yield url

    def settings(self, base_url: str, **overrides: object) -> FusionSolarSettings:
        """Client settings for this simulator's account; pacing matches its window."""
        values: dict[str, object] = {
            "base_url": base_url,
            "username": self.config.username,
            "system_code": self.config.system_code,
            "min_interval_s": self.config.window_s or 0.001,
        }
        return FusionSolarSettings.model_validate(values | overrides)

    def count(self, endpoint: str) -> int:
        """Requests received for `endpoint`, whatever their answer."""
        return self.calls[endpoint]

    def times(self, endpoint: str) -> list[datetime]:
        return [r.at for r in self.requests if r.endpoint == endpoint]

    # --- truth --------------------------------------------------------------------------------

    def _today(self, zone: ZoneInfo) -> date:
        return self.clock.now().astimezone(zone).date()

    def _source(self, source: int | str, metric: str | None) -> tuple[ZoneInfo, str]:
        if isinstance(source, int):
            device = self.fleet.device(source)
            if device is None:
                raise KeyError(source)
            return self.fleet.zone_of(device), "product_power"
        plant = self.fleet.plant(source)
        if plant is None:
            raise KeyError(source)
        return plant.zone, metric or "inverter_power"

    def _days(self, source: int | str, month: Month, metric: str) -> Days:
        if isinstance(source, int):
            return self.fleet.device_days(source, month)
        return self.fleet.plant_days(source, month, metric)

    def expected_day_kwh(
        self, source: int | str, day: date, metric: str | None = None
    ) -> Decimal | None:
        """What a correct client reads for a device id or plant code on a local date, or None."""
        zone, key = self._source(source, metric)
        if day > self._today(zone):
            return None
        style, milli = self._days(source, Month.of(day), key)[day.day - 1]
        return kwh(milli) if style.has_value else None

    def expected_month_kwh(
        self, source: int | str, month: Month, metric: str | None = None
    ) -> Decimal | None:
        """The month value served for a device id or plant code: the exact sum of its days."""
        zone, key = self._source(source, metric)
        today = self._today(zone)
        if month > Month.of(today):
            return None
        up_to = today.day if month == Month.of(today) else None
        total = month_total(self._days(source, month, key), up_to)
        return None if total is None else kwh(total)

    # --- HTTP ---------------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        endpoint = request.match_info["endpoint"]
        now = self.clock.now()
        try:
            body = await request.json()
        except ValueError:
            body = {}
        if not isinstance(body, dict):
            body = {}
        self.requests.append(SimRequest(endpoint, now, body))
        self.calls[endpoint] += 1
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            return await self._answer(endpoint, body, request, now)
        finally:
            self.in_flight -= 1

    async def _answer(
        self, endpoint: str, body: Mapping[str, object], request: web.Request, now: datetime
    ) -> web.StreamResponse:
        fault = self._take_fault(endpoint)
        if fault is not None:
            answer = await self._apply_fault(fault, endpoint, request)
            if answer is not None:
                return answer
        try:
            if endpoint == "login":
                return self._login(body, now)
            handler = HANDLERS.get(endpoint)
            if handler is None:
                return web.Response(status=404, text="<html><body>404 Not Found</body></html>")
            self._admit(endpoint, request, now)
            result = handler(self, body, now)
        except SimError as exc:
            return _json(_failure(exc.code, exc.data, exc.message, now))
        self.served[endpoint] += 1
        self._day_counts[endpoint, self._quota_day(now)] += 1
        return _json(_success(result, body, now, paged=endpoint == "stations"))

    def _take_fault(self, endpoint: str) -> Fault | None:
        for fault, left in self._pending:
            matches = fault.endpoint == endpoint or (fault.endpoint is None and endpoint != "login")
            if matches and left[0] > 0:
                left[0] -= 1
                return fault
        return None

    async def _apply_fault(
        self, fault: Fault, endpoint: str, request: web.Request
    ) -> web.StreamResponse | None:
        if fault.kind == "slow":
            if fault.gate is not None:
                await fault.gate.wait()
            await asyncio.sleep(fault.delay_s)
            return None
        if fault.kind == "reset":
            if request.transport is not None:
                request.transport.abort()
            return web.Response(status=500)
        if fault.kind == "http502":
            return web.Response(status=502, text=_HTML_502, content_type="text/html")
        if fault.kind in ("http403", "http429"):
            quota = {k: v.format(endpoint=endpoint) for k, v in _QUOTA_403.items()}
            return web.json_response(quota, status=403 if fault.kind == "http403" else 429)
        if fault.kind == "empty":
            return web.Response(status=200, text="")
        if fault.kind == "html200":
            return web.Response(status=200, text=_HTML_502, content_type="text/html")
        return _json(_failure(fault.fail_code, None, None, self.clock.now()))

    # --- rules --------------------------------------------------------------------------------

    def _login(self, body: Mapping[str, object], now: datetime) -> web.Response:
        config = self.config
        window = timedelta(seconds=config.login_window_s)
        recent = [at for at, _ in self.logins if now - at < window]
        if len(recent) >= config.login_limit:
            self.logins.append((now, "rate_limited"))
            return _json(_failure(407, "ACCESS_FREQUENCY_IS_TOO_HIGH", None, now))
        if self._locked_until is not None and now < self._locked_until:
            self.logins.append((now, "locked"))
            return _json(_failure(20400, None, "user locked", now))
        if body.get("userName") != config.username or body.get("systemCode") != config.system_code:
            self.logins.append((now, "refused"))
            self._bad_logins = [at for at in self._bad_logins if now - at < window] + [now]
            if len(self._bad_logins) >= config.lockout_after:
                self._locked_until = now + timedelta(seconds=config.lockout_s)
            # Huawei answers wrong credentials with HTTP 200 and an empty body.
            return web.Response(status=200, text="")
        self.logins.append((now, "ok"))
        self._token = "x-" + secrets.token_hex(24)
        self._token_issued = now
        response = _json(_success(None, {}, now, paged=False))
        if config.token_in_header:
            response.headers["xsrf-token"] = self._token
        if config.token_in_cookie:
            response.set_cookie("XSRF-TOKEN", self._token, path="/", secure=True)
        return response

    def _admit(self, endpoint: str, request: web.Request, now: datetime) -> None:
        """Token, per-endpoint window, daily cap: in that order, as the real gateway checks."""
        config = self.config
        token = request.headers.get("XSRF-TOKEN")
        issued = self._token_issued
        if request.headers.get("Authorization") is not None:
            self.oauth.admit(request.headers["Authorization"], now)
        elif (
            token is None
            or token != self._token
            or issued is None
            or now - issued >= timedelta(seconds=config.token_lifetime_s)
        ):
            raise SimError(305)
        last = self._last_call.get(endpoint)
        window = config.window_s - config.window_slack_s
        if last is not None and config.window_s > 0 and (now - last).total_seconds() < window:
            raise SimError(407, "ACCESS_FREQUENCY_IS_TOO_HIGH")
        self._last_call[endpoint] = now  # the window runs from the last admitted request
        cap = config.daily_caps.get(endpoint, self._default_cap(endpoint))
        if cap is not None and self._day_counts[endpoint, self._quota_day(now)] >= cap:
            raise SimError(20618, None, "calls to API have reached the maximum number per day")

    def _quota_day(self, now: datetime) -> date:
        return now.astimezone(ZoneInfo(self.config.quota_zone)).date()

    def _default_cap(self, endpoint: str) -> int | None:
        """Huawei's published daily formulas for accounts created after mid-2022."""
        plants = math.ceil(len(self.fleet.plants) / 100)
        by_type = Counter(d.type_id for d in self.fleet.devices)
        devices = sum(math.ceil(n / 100) for t, n in by_type.items() if t in (1, 38, 39, 41))
        if endpoint == "stations":
            return plants * 10 + 24
        if endpoint == "getStationList":
            return 24
        if endpoint in (*PLANT_KPI, "getDevList"):
            return plants + 24
        if endpoint in DEVICE_KPI:
            return devices + 24
        return None

    def history_start(self, now: datetime) -> datetime:
        return now - timedelta(days=self.config.history_days)


def _success(
    result: object, body: Mapping[str, object], now: datetime, *, paged: bool
) -> dict[str, object]:
    envelope: dict[str, object] = {"success": True, "failCode": 0, "message": None, "data": result}
    if paged:
        envelope["message"] = "get plant list success"
    else:
        envelope["params"] = {**body, "currentTime": int(now.timestamp() * 1000)}
    return envelope


def _failure(code: int, payload: object, message: str | None, now: datetime) -> dict[str, object]:
    if code == 305:
        # The real expiry answer has no `success` and no `data`.
        return {"failCode": 305, "immediately": True, "message": "USER_MUST_RELOGIN"}
    return {
        "success": False,
        "failCode": code,
        "message": message,
        "data": payload,
        "params": {"currentTime": int(now.timestamp() * 1000)},
    }


def _json(payload: Mapping[str, object]) -> web.Response:
    return web.Response(text=json.dumps(payload), content_type="application/json")
