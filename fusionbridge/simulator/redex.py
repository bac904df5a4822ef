"""A REDEX public API v2 stand-in on real HTTP, shared by tests, `demo` and the benchmark.

It grants and refreshes tokens with a configurable lifetime, validates monthly-data bodies
strictly (400 malformed, 422 unknown or Daily-registered inverters), counts every request in a
fixed window of random phase (429 + Retry-After), processes each accepted request New →
Processing → Success (or Failed), and lets a test script faults and slow answers. Accepted
values land in `accepted` with last-write-wins, our documented assumption about re-sends.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import math
import random
from collections import defaultdict, deque
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from email.utils import format_datetime
from typing import Any, Literal

from aiohttp import web

from fusionbridge.clock import Clock, SystemClock
from fusionbridge.core.models import MONTH_KEYS
from fusionbridge.redex.daily_wire import BATCHES_PATH
from fusionbridge.redex.wire import GRANT_PATH, MONTHLY_PATH, PERIOD_KEY, REFRESH_PATH, STATUS_PATH
from fusionbridge.serving import served
from fusionbridge.settings import RedexSettings
from fusionbridge.simulator import redex_daily
from fusionbridge.simulator.redex_checks import malformed
from fusionbridge.simulator.redex_faults import Fault as Fault
from fusionbridge.simulator.redex_faults import ReceivedRequest as ReceivedRequest

CLIENT_ID = "sim-client"
CLIENT_SECRET = "sim-client-secret"
API_KEY = "sim-api-key"
ENDPOINTS = {
    GRANT_PATH: "token",
    REFRESH_PATH: "token_refresh",
    MONTHLY_PATH: "monthly_data",
    BATCHES_PATH: "batches",
    STATUS_PATH: "statuses",
}
_BODY = web.RequestKey("body", object)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(slots=True)
class _Process:
    fails: bool
    created: datetime
    polls: int = 0


class RedexSimulator:
    """In-process REDEX: `.app` to serve, `.accepted` and `.requests` to inspect."""

    def __init__(
        self,
        *,
        clock: Clock | None = None,
        rate_limit: int = 5,
        rate_period_s: float = 5.0,
        phase_s: float | None = None,
        seed: int | None = None,
        token_lifetime_s: float = 3600.0,
        processing_polls: int = 1,
        retry_after: Literal["seconds", "http-date"] = "seconds",
        first_process_id: int = 7_000_001,
    ) -> None:
        self.clock = clock or SystemClock()
        self.rate_limit = rate_limit
        self.rate_period_s = rate_period_s
        rng = random.Random(seed)
        self.phase_s = rng.uniform(0, rate_period_s) if phase_s is None else phase_s
        self.token_lifetime_s = token_lifetime_s
        self.processing_polls = processing_polls
        self.retry_after = retry_after
        self.inverters: dict[str, str] = {}
        self.failing: set[str] = set()
        self.accepted: dict[tuple[str, int, int], Decimal] = {}
        self.accepted_days: dict[tuple[str, date], tuple[Decimal, Decimal]] = {}
        self.requests: list[ReceivedRequest] = []
        self.processes: dict[int, _Process] = {}
        self._faults: dict[str, deque[Fault]] = defaultdict(deque)
        self._access: dict[str, float] = {}
        self._refresh: set[str] = set()
        self._serial = itertools.count(1)
        # one REDEX numbers processes once: a second simulator standing for another business
        # account of the same registry starts elsewhere
        self._process_ids = itertools.count(first_process_id)
        self._window = (0, 0)
        self.app = web.Application(middlewares=[self._gate])
        self.app.router.add_post(GRANT_PATH, self._grant)
        self.app.router.add_post(REFRESH_PATH, self._refresh_grant)
        self.app.router.add_post(MONTHLY_PATH, self._monthly)
        self.app.router.add_post(BATCHES_PATH, self._batches)
        self.app.router.add_get(STATUS_PATH, self._status)

    # -- test controls -------------------------------------------------------------------------

    def register(
        self, *remote_inv_ids: str, frequency: str = "Monthly", fails: bool = False
    ) -> None:
        """Register remote inverters; `fails=True` makes every process carrying them fail."""
        for remote_inv_id in remote_inv_ids:
            self.inverters[remote_inv_id] = frequency
            if fails:
                self.failing.add(remote_inv_id)

    def inject(self, endpoint: str, *faults: Fault) -> None:
        """Answer the next requests to `endpoint` (token, token_refresh, monthly_data, batches,
        statuses)."""
        if endpoint not in ENDPOINTS.values():
            raise ValueError(f"unknown endpoint {endpoint!r}")
        self._faults[endpoint].extend(faults)

    def expire_tokens(self) -> None:
        """Invalidate every access token now, as a server-side revocation would."""
        self._access.clear()

    def revoke_refresh_tokens(self) -> None:
        self._refresh.clear()

    def issue_token(self) -> str:
        """An access token valid for the configured lifetime, to use as a static token."""
        token = f"sim-static-{next(self._serial)}"
        self._access[token] = self.clock.monotonic() + self.token_lifetime_s
        return token

    def count(self, endpoint: str | None = None, status: int | None = None) -> int:
        """How many requests matched (every request counts, answered or throttled)."""
        return sum(
            1
            for r in self.requests
            if (endpoint is None or r.endpoint == endpoint)
            and (status is None or r.status == status)
        )

    def settings(self, base_url: str, **overrides: Any) -> RedexSettings:
        """Client settings that match this simulator's credentials and rate limit."""
        values: dict[str, Any] = {
            "base_url": base_url,
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "api_key": API_KEY,
            "rate_limit": self.rate_limit,
            "rate_period_s": self.rate_period_s,
        }
        return RedexSettings.model_validate(values | overrides)

    @asynccontextmanager
    async def serve(self, host: str = "127.0.0.1", port: int = 0) -> AsyncIterator[str]:
        """Serve on loopback (an ephemeral port by default) and yield the base URL."""
        async with served(self.app, host, port) as url:
            yield url

    # -- gate: rate limit, faults, bookkeeping -------------------------------------------------

    @web.middleware
    async def _gate(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        arrived = self.clock.monotonic()
        endpoint = ENDPOINTS.get(request.path, "other")
        slot = len(self.requests)
        self.requests.append(ReceivedRequest(endpoint, arrived, 0))
        queue = self._faults.get(endpoint)
        late = queue.popleft() if queue and queue[0].late else None
        early = self._throttle(arrived) or (
            None if late is not None else await self._fault(endpoint, request)
        )
        try:
            response = early if early is not None else await handler(request)
        except web.HTTPException as exc:
            self.requests[slot] = ReceivedRequest(endpoint, arrived, exc.status)
            raise
        if late is not None:
            self.requests[slot] = ReceivedRequest(
                endpoint, arrived, response.status, request.get(_BODY)
            )
            await asyncio.sleep(late.delay_s)
        raw = await request.read() if request.body_exists else b""
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        self.requests[slot] = ReceivedRequest(
            endpoint,
            arrived,
            response.status,
            request.get(_BODY),
            raw,
            token if scheme == "Bearer" else "",
        )
        return response

    def _throttle(self, now: float) -> web.Response | None:
        index = math.floor((now - self.phase_s) / self.rate_period_s)
        current, used = self._window
        if index != current:
            used = 0
        if used < self.rate_limit:
            self._window = (index, used + 1)
            return None
        self._window = (index, used)
        wait = (index + 1) * self.rate_period_s + self.phase_s - now
        return _envelope(
            429, "Rate limit exceeded", headers={"Retry-After": self._retry_text(wait)}
        )

    def _retry_text(self, wait: float) -> str:
        if self.retry_after == "http-date":
            at = self.clock.now() + timedelta(seconds=math.ceil(wait))
            return format_datetime(at.replace(microsecond=0), usegmt=True)
        if self.rate_period_s >= 1:
            return str(math.ceil(wait))
        return f"{math.ceil(wait * 1000) / 1000:.3f}"

    async def _fault(self, endpoint: str, request: web.Request) -> web.Response | None:
        queue = self._faults.get(endpoint)
        if not queue:
            return None
        fault = queue.popleft()
        if fault.gate is not None:
            await fault.gate.wait()
        if fault.delay_s:
            await asyncio.sleep(fault.delay_s)
        if fault.drop and request.transport is not None:
            request.transport.close()
            return web.Response(status=0)
        if fault.status is None:
            return None
        return web.Response(
            status=fault.status,
            text=fault.body,
            content_type=fault.content_type,
            headers=dict(fault.headers),
        )

    # -- endpoints -----------------------------------------------------------------------------

    async def _grant(self, request: web.Request) -> web.Response:
        body = await _read_json(request)
        if not isinstance(body, dict) or body.get("GrantType") != "api_key":
            return _envelope(400, "Expected an api_key grant")
        wanted = {"ApiKey": API_KEY, "ClientId": CLIENT_ID, "ClientSecret": CLIENT_SECRET}
        if any(body.get(k) != v for k, v in wanted.items()):
            return _envelope(401, "Invalid client credentials or API key")
        return self._issue()

    async def _refresh_grant(self, request: web.Request) -> web.Response:
        body = await _read_json(request)
        if not isinstance(body, dict) or body.get("GrantType") != "refresh_token":
            return _envelope(400, "Expected a refresh_token grant")
        if body.get("ClientId") != CLIENT_ID or body.get("ClientSecret") != CLIENT_SECRET:
            return _envelope(401, "Invalid client credentials")
        token = body.get("RefreshToken")
        if token not in self._refresh:
            return _envelope(400, "Invalid or expired refresh token")
        self._refresh.discard(token)
        return self._issue()

    def _issue(self) -> web.Response:
        serial = next(self._serial)
        access, refresh = f"sim-access-{serial}", f"sim-refresh-{serial}"
        self._access[access] = self.clock.monotonic() + self.token_lifetime_s
        self._refresh.add(refresh)
        data = {
            "AccessToken": access,
            "RefreshToken": refresh,
            "ExpiresIn": f"{self.token_lifetime_s:g}",
            "TokenType": "Bearer",
            "Scope": "REConnect_api REDEX_api REHash_api",
        }
        return _envelope(200, "Success", data=data)

    def _authorised(self, request: web.Request) -> bool:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        expires = self._access.get(token) if scheme == "Bearer" else None
        return expires is not None and self.clock.monotonic() < expires

    async def _monthly(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return _envelope(401, "Unauthorized")
        body = await _read_json(request)
        request[_BODY] = body
        problem = malformed(body)
        if problem is not None:
            return _envelope(400, problem)
        errors = self._unprocessable(body)
        if errors:
            return _envelope(422, "One or more validation errors occurred.", errors=errors)
        process_id = next(self._process_ids)
        fails = any(item["RemoteInvId"] in self.failing for item in body)
        self.processes[process_id] = _Process(fails, self.clock.now())
        if not fails:
            self._apply(body)
        return _envelope(201, "Created", data={"ProcessId": process_id})

    async def _batches(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return _envelope(401, "Unauthorized")
        body = await _read_json(request)
        request[_BODY] = body
        return await redex_daily.batches(self, request, body)

    def _unprocessable(self, body: list[dict[str, Any]]) -> list[dict[str, Any]]:
        errors = []
        for index, item in enumerate(body):
            frequency = self.inverters.get(item["RemoteInvId"])
            if frequency == "Monthly":
                continue
            if frequency is None:
                message = f"RemoteInvId {item['RemoteInvId']} is not registered"
            else:
                message = f"must send {{{frequency}}} generation data"
            errors.append(
                {"Key": f"[{index}].RemoteInvId", "Message": message, "Messages": [message]}
            )
        return errors

    def _apply(self, body: list[dict[str, Any]]) -> None:
        for item in body:
            year = item["Data"]["Year"]
            for number, key in enumerate(MONTH_KEYS, start=1):
                value = item["Data"][PERIOD_KEY][key]
                if value is not None:
                    self.accepted[(item["RemoteInvId"], year, number)] = Decimal(value)

    async def _status(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return _envelope(401, "Unauthorized")
        text = request.query.get("ProcessId", "")
        if not text.isdigit():
            return _envelope(400, "ProcessId must be an integer")
        process = self.processes.get(int(text))
        if process is None:
            return _envelope(404, "Process not found")
        seen, process.polls = process.polls, process.polls + 1
        if seen >= self.processing_polls:
            status = "Failed" if process.fails else "Success"
        else:
            status = "New" if seen == 0 else "Processing"
        data = {
            "ProcessId": int(text),
            "Status": status,
            "ProcessingType": "CreateMonthlyData",
            "CreatedTime": process.created.isoformat(),
            "UpdatedTime": self.clock.now().isoformat(),
        }
        return _envelope(200, "Success", data=data)


async def _read_json(request: web.Request) -> Any:
    try:
        return json.loads(await request.text(), parse_float=Decimal)
    except ValueError:
        return None


def _envelope(
    status: int,
    message: str,
    *,
    data: Any = None,
    errors: list[dict[str, Any]] | None = None,
    headers: Mapping[str, str] | None = None,
) -> web.Response:
    body = {"Data": data, "Errors": errors, "StatusCode": status, "Message": message, "Meta": None}
    return web.json_response(body, status=status, headers=headers)
