"""The FusionSolar northbound client: one careful session per account, paced, batched, retried.

It logs in only when no live token exists (in this process or in the store), never more than
Huawei's login quota allows, and never again with credentials Huawei just refused. Every request
goes through the pacer; transient failures are retried by stamina, rate limits are waited out.
"""

from __future__ import annotations

import functools
import ssl
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from types import MappingProxyType
from typing import Literal
from zoneinfo import ZoneInfo

import aiohttp

from fusionbridge.clock import Clock
from fusionbridge.core.models import Device, KpiRow, Plant
from fusionbridge.errors import (
    ConnectFailed,
    DailyCapError,
    FusionSolarApiError,
    FusionSolarLoginError,
    FusionSolarRateLimited,
    PlatformThrottled,
    SessionExpired,
    TransientError,
    UpstreamError,
)
from fusionbridge.evidence.raw import RawResponse
from fusionbridge.fusionsolar import wire
from fusionbridge.fusionsolar.auth import credentials_for
from fusionbridge.fusionsolar.grants import owner_refused
from fusionbridge.fusionsolar.oauth_state import OAuthStore
from fusionbridge.fusionsolar.pacing import Pacer
from fusionbridge.fusionsolar.session import Answer, BeforeSend
from fusionbridge.fusionsolar.state import PacingStore
from fusionbridge.logs import get_logger
from fusionbridge.retry import FUSIONSOLAR_RETRY, RetryPolicy
from fusionbridge.settings import FusionSolarSettings

log = get_logger(__name__)

PlantPeriod = Literal["hour", "day", "month", "year"]
DevicePeriod = Literal["day", "month", "year"]
PLANT_KPI_ENDPOINTS: Mapping[str, str] = {
    "hour": "getKpiStationHour",
    "day": "getKpiStationDay",
    "month": "getKpiStationMonth",
    "year": "getKpiStationYear",
}
DEVICE_KPI_ENDPOINTS: Mapping[str, str] = {
    "day": "getDevKpiDay",
    "month": "getDevKpiMonth",
    "year": "getDevKpiYear",
}


@functools.cache
def _tls_context(cafile: str | None) -> ssl.SSLContext:
    """One context per CA file: each holds the parsed trust store, and fifty accounts share it."""
    return ssl.create_default_context(cafile=cafile)


def make_session(settings: FusionSolarSettings) -> aiohttp.ClientSession:
    """An HTTP session fit for FusionSolar: its timeout, TLS choices, two connections, no cookies."""
    tls: ssl.SSLContext | bool
    if not settings.verify_tls:
        tls = False
    else:
        tls = _tls_context(str(settings.ca_bundle) if settings.ca_bundle else None)
    return aiohttp.ClientSession(
        timeout=aiohttp.ClientTimeout(total=settings.timeout_s),
        connector=aiohttp.TCPConnector(limit=2, ssl=tls),
        cookie_jar=aiohttp.DummyCookieJar(),
        raise_for_status=False,
    )


def _outcome(exc: BaseException) -> str:
    if isinstance(exc, SessionExpired):
        return "session_expired"
    if isinstance(exc, DailyCapError):
        return "daily_cap"
    if isinstance(exc, PlatformThrottled):
        return "throttled"
    if isinstance(exc, FusionSolarRateLimited):
        return "rate_limited"
    if isinstance(exc, FusionSolarLoginError):
        return "refused"
    if isinstance(exc, TransientError):
        return "transient"
    return "error"


class FusionSolarClient:
    """Typed access to the thirdData endpoints of one northbound account."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        settings: FusionSolarSettings,
        store: PacingStore,
        *,
        oauth_store: OAuthStore | None = None,
        clock: Clock,
        zone: ZoneInfo,
        on_request: Callable[[str, str], None] | None = None,
        retry: RetryPolicy | None = None,
    ) -> None:
        self._session = session
        self._base_url = settings.base_url
        self._clock = clock
        self._on_request = on_request
        self._retry = retry or FUSIONSOLAR_RETRY
        self._pacer = Pacer(store, clock, min_interval_s=settings.min_interval_s, zone=zone)
        self._auth = credentials_for(
            settings,
            store,
            clock,
            oauth_store=oauth_store,
            http=session,
            send=self._post,
            notify=self._notify,
            retry=self._retry,
        )
        self._calls: Counter[str] = Counter()
        self._throttle_streak: Counter[str] = Counter()

    @property
    def calls(self) -> Mapping[str, int]:
        """Requests sent per endpoint by this instance (logins included)."""
        return MappingProxyType(self._calls)

    async def calls_today(self) -> dict[str, int]:
        """Requests sent today per endpoint, by any process sharing the store."""
        return await self._pacer.calls_today()

    async def ensure_session(self) -> None:
        """Live credentials: the stored token while young, else one login or refresh (for `probe`)."""
        await self._auth.headers()

    async def call_raw(self, endpoint: str, body: Mapping[str, object]) -> object:
        """One paced call returning Huawei's `data` as received (for `probe --json`)."""
        return await self._call(endpoint, body)

    # --- endpoints ----------------------------------------------------------------------------

    async def plants(self) -> list[Plant]:
        """Every plant of the account: `stations` page by page, `getStationList` if refused."""
        try:
            data = await self._call("stations", wire.stations_body(1))
        except FusionSolarApiError as exc:
            if exc.fail_code != wire.FailCode.NO_PERMISSION:
                raise
            log.info("fusionsolar.stations_refused", fallback="getStationList")
            return wire.parse_station_list(await self._call("getStationList", {}))
        plants, pages = wire.parse_stations_page(data)
        for page in range(2, pages + 1):
            more, _ = wire.parse_stations_page(
                await self._call("stations", wire.stations_body(page))
            )
            plants.extend(more)
        return plants

    async def devices(self, plant_codes: Sequence[str]) -> list[Device]:
        """Every device of the given plants, ≤100 plants per `getDevList` call."""
        devices: list[Device] = []
        for batch in wire.chunked(_unique(plant_codes), wire.MAX_PLANTS_PER_CALL):
            data = await self._call("getDevList", wire.plants_body(batch))
            devices.extend(wire.parse_devices(data))
        return devices

    async def plant_real_kpi(
        self, plant_codes: Sequence[str], evidence: list[RawResponse] | None = None
    ) -> list[KpiRow]:
        """Real-time plant figures (today, month, lifetime kWh), stamped with the fetch time."""
        rows: list[KpiRow] = []
        for batch in wire.chunked(_unique(plant_codes), wire.MAX_PLANTS_PER_CALL):
            data = await self._call("getStationRealKpi", wire.plants_body(batch), evidence)
            rows.extend(wire.parse_kpi_rows(data, "stationCode", self._clock.now()))
        return rows

    async def plant_kpi(
        self,
        period: PlantPeriod,
        plant_codes: Sequence[str],
        at: datetime,
        evidence: list[RawResponse] | None = None,
    ) -> list[KpiRow]:
        """Plant buckets of the day/month/year containing `at` (resolved in each plant's zone).

        Each answer's raw bytes are appended to `evidence` when given (SPEC §15).
        """
        endpoint = PLANT_KPI_ENDPOINTS[period]
        rows: list[KpiRow] = []
        for batch in wire.chunked(_unique(plant_codes), wire.MAX_PLANTS_PER_CALL):
            data = await self._call(endpoint, wire.plant_kpi_body(batch, at), evidence)
            rows.extend(wire.parse_kpi_rows(data, "stationCode"))
        return rows

    async def device_real_kpi(
        self, devices: Iterable[Device], evidence: list[RawResponse] | None = None
    ) -> list[KpiRow]:
        """Real-time device figures, one call per ≤100 devices of one type."""
        rows: list[KpiRow] = []
        for type_id, ids in wire.device_batches(devices):
            data = await self._call("getDevRealKpi", wire.devices_body(type_id, ids), evidence)
            rows.extend(wire.parse_kpi_rows(data, "devId", self._clock.now()))
        return rows

    async def device_kpi(
        self,
        period: DevicePeriod,
        devices: Sequence[Device],
        at: datetime,
        evidence: list[RawResponse] | None = None,
    ) -> list[KpiRow]:
        """Device buckets of the day/month/year containing `at`, in the fewest calls allowed.

        Each answer's raw bytes are appended to `evidence` when given (SPEC §15).
        """
        endpoint = DEVICE_KPI_ENDPOINTS[period]
        rows: list[KpiRow] = []
        for type_id, ids in wire.device_batches(devices):
            data = await self._call(endpoint, wire.device_kpi_body(type_id, ids, at), evidence)
            rows.extend(wire.parse_kpi_rows(data, "devId"))
        return rows

    # --- calls --------------------------------------------------------------------------------

    async def _call(
        self,
        endpoint: str,
        body: Mapping[str, object],
        evidence: list[RawResponse] | None = None,
    ) -> object:
        """One logical call; failCode 20056 names the call and what the owner must grant."""
        try:
            return await self._call_renewing(endpoint, body, evidence)
        except FusionSolarApiError as exc:
            if exc.fail_code == wire.FailCode.OWNER_NOT_AUTHORISED:
                raise owner_refused(endpoint, body) from exc
            raise

    async def _call_renewing(
        self,
        endpoint: str,
        body: Mapping[str, object],
        evidence: list[RawResponse] | None = None,
    ) -> object:
        """With live credentials, renewed once if Huawei says they expired."""
        headers = await self._auth.headers()
        try:
            return await self._call_paced(endpoint, body, headers, evidence)
        except SessionExpired:
            log.info("fusionsolar.session_expired", endpoint=endpoint)
            headers = await self._auth.headers(stale=headers)
            try:
                return await self._call_paced(endpoint, body, headers, evidence)
            except SessionExpired as exc:
                raise FusionSolarApiError(
                    wire.FailCode.NOT_LOGGED_IN,
                    "refused again right after a fresh login or token refresh; "
                    "is another client using this account?",
                ) from exc

    async def _call_paced(
        self,
        endpoint: str,
        body: Mapping[str, object],
        headers: Mapping[str, str],
        evidence: list[RawResponse] | None = None,
    ) -> object:
        """Wait out 407 and the platform throttle a bounded number of times."""
        for attempt in range(self._retry.rate_limit_retries + 1):
            try:
                data = await self._call_retrying(endpoint, body, headers, evidence)
            except FusionSolarRateLimited as exc:
                wait = self._rate_limit_wait(endpoint, exc, attempt + 1)
                log.warning(
                    "fusionsolar.rate_limited",
                    endpoint=endpoint,
                    kind=_outcome(exc),
                    attempt=attempt + 1,
                    wait_s=round(wait, 3),
                )
                if attempt == self._retry.rate_limit_retries:
                    raise FusionSolarRateLimited(
                        f"FusionSolar {endpoint}: still rate limited after {attempt + 1} attempts",
                        wait,
                    ) from exc
                continue
            self._throttle_streak.pop(endpoint, None)
            return data
        raise AssertionError("unreachable")  # pragma: no cover

    def _rate_limit_wait(self, endpoint: str, exc: FusionSolarRateLimited, attempt: int) -> float:
        """407: the next window, a little later each time; 403/429: a minute, doubling."""
        if isinstance(exc, PlatformThrottled):
            self._throttle_streak[endpoint] += 1
            wait = self._retry.throttle_wait(self._throttle_streak[endpoint])
        else:
            wait = self._pacer.interval_s * attempt
        self._pacer.back_off(endpoint, wait)
        return wait

    async def _call_retrying(
        self,
        endpoint: str,
        body: Mapping[str, object],
        headers: Mapping[str, str],
        evidence: list[RawResponse] | None = None,
    ) -> object:
        """Retry 5xx, resets, timeouts, HTML and busy failCodes with backoff and jitter."""
        async for attempt in self._retry.transient():
            with attempt:
                answer = await self._post(endpoint, body, headers)
                try:
                    data = wire.unwrap(answer.status, answer.text)
                except DailyCapError as exc:
                    self._notify(endpoint, "daily_cap")
                    raise await self._blocked_for_today(endpoint) from exc
                except UpstreamError as exc:
                    self._report(endpoint, exc, answer.text)
                    raise
                self._notify(endpoint, "ok")
                if evidence is not None:
                    evidence.append(
                        RawResponse.received(endpoint, body, self._clock.now(), answer.raw)
                    )
                return data
        raise AssertionError("unreachable")  # pragma: no cover

    async def _blocked_for_today(self, endpoint: str) -> DailyCapError:
        until = await self._pacer.block_for_today(endpoint)
        log.warning("fusionsolar.daily_cap", endpoint=endpoint, blocked_until=until.isoformat())
        return DailyCapError(
            f"FusionSolar {endpoint}: daily call cap reached; not calling it again before "
            f"{until:%Y-%m-%d %H:%M} UTC",
            (until - self._clock.now()).total_seconds(),
        )

    async def _post(
        self,
        endpoint: str,
        body: Mapping[str, object],
        headers: Mapping[str, str],
        before_send: BeforeSend | None = None,
    ) -> Answer:
        """Send one paced request; translate transport failures at this boundary."""
        async with self._pacer.slot(endpoint):
            if before_send is not None:
                await before_send()
            self._calls[endpoint] += 1
            try:
                async with self._session.post(
                    f"{self._base_url}/thirdData/{endpoint}", json=body, headers=headers
                ) as response:
                    raw = await response.read()
            except (aiohttp.ClientError, TimeoutError) as exc:
                self._notify(endpoint, "transport_error")
                reason = str(exc) or type(exc).__name__
                log.warning("fusionsolar.transport_error", endpoint=endpoint, error=reason)
                unsent = isinstance(exc, aiohttp.ClientConnectorError)
                raise (ConnectFailed if unsent else TransientError)(
                    f"FusionSolar {endpoint}: cannot reach {self._base_url} ({reason})"
                ) from exc
        cookies = {name: morsel.value for name, morsel in response.cookies.items()}
        return Answer(
            response.status,
            raw.decode("utf-8", errors="replace"),
            wire.token_from(dict(response.headers), cookies),
            raw,
        )

    def _report(self, endpoint: str, exc: UpstreamError, text: str) -> None:
        outcome = _outcome(exc)
        self._notify(endpoint, outcome)
        if outcome in ("transient", "error"):
            log.warning(
                "fusionsolar.request_failed",
                endpoint=endpoint,
                error=str(exc),
                body=wire.snippet(text),
            )

    def _notify(self, endpoint: str, outcome: str) -> None:
        if self._on_request is not None:
            self._on_request(endpoint, outcome)


def _unique(items: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(items))
