"""REDEX I/O: tokens, rate-safe requests, one monthly-data POST at a time, processing polls.

Every request (token, refresh, monthly-data, status) passes the limiter, so the account's
window holds whatever mix of calls a run makes. Failures come back as `fusionbridge.errors`.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Final

import aiohttp

from fusionbridge.clock import Clock
from fusionbridge.core.outcomes import Pending, Unconfirmed
from fusionbridge.errors import (
    RedexAuthError,
    RedexRateLimited,
    RedexRequestError,
    TransientError,
    UnexpectedResponseError,
)
from fusionbridge.logs import get_logger
from fusionbridge.redex import wire
from fusionbridge.redex.daily_wire import BATCHES_PATH
from fusionbridge.redex.limiter import Slot, WindowLimiter, redex_limiter
from fusionbridge.redex.tokens import TokenKeeper
from fusionbridge.redex.wire import ProcessingStatus
from fusionbridge.retry import REDEX_RETRY, RetryPolicy
from fusionbridge.settings import RedexSettings

UNKNOWN_STATUS: Final = "Unknown"
"""What `follow` reports for a ProcessId no poll got an answer for."""

log = get_logger(__name__)

RequestHook = Callable[[str, str], None]
NOT_TAKEN_STATUSES: Final = frozenset({502, 503, 504})
"""Gateway answers: the request never reached REDEX's application, so it may be repeated."""
StatusHook = Callable[[int, str, str], Awaitable[None]]
"""Called with (ProcessId, status, answer text) for every processing status polled."""
Posted = tuple[wire.MonthlyAnswer, tuple[int, str] | None]
"""What became of a submission, and REDEX's answer as received (HTTP status, body) if any."""


@dataclass(frozen=True, slots=True)
class _Request:
    endpoint: str
    method: str
    path: str
    body: str | None = None
    params: dict[str, str] | None = None
    auth: bool = True
    once: bool = False  # not idempotent: repeat only when it provably did not take effect


@dataclass(frozen=True, slots=True)
class _Reply:
    status: int
    body: Any
    retry_after: str | None = None
    token: str | None = field(default=None, repr=False)
    text: str = field(default="", repr=False)


class _TokenUnavailable(TransientError):
    """The token endpoint stayed unreachable through its own retries: do not retry those again."""


class _NotTaken(TransientError):
    """The request provably did not take effect: connection refused, or 502/503/504."""


class _MaybeTaken(TransientError):
    """The request may have reached REDEX: timeout, connection broken after sending, 500."""


def _worth_retrying(exc: Exception) -> bool:
    return isinstance(exc, TransientError) and not isinstance(exc, _TokenUnavailable)


def _provably_not_taken(exc: Exception) -> bool:
    return isinstance(exc, _NotTaken)


def make_session(settings: RedexSettings) -> aiohttp.ClientSession:
    """An HTTP session for REDEX whose requests give up after `timeout_s`."""
    return aiohttp.ClientSession(
        timeout=aiohttp.ClientTimeout(total=settings.timeout_s),
        headers={"Accept": "application/json"},
    )


class RedexClient:
    """Submits monthly generation to REDEX and follows its processing, within the rate limit."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        settings: RedexSettings,
        *,
        clock: Clock,
        limiter: WindowLimiter | None = None,
        on_request: RequestHook | None = None,
        retry: RetryPolicy | None = None,
        poll_interval_s: float = 2.0,
        poll_interval_max_s: float = 30.0,
        tokens: TokenKeeper | None = None,
    ) -> None:
        self._session = session
        self._settings = settings
        self._clock = clock
        self._limiter = limiter or redex_limiter(settings, clock)
        self._on_request = on_request
        self._retry = retry or REDEX_RETRY
        self._poll_interval_s = poll_interval_s
        self._poll_interval_max_s = poll_interval_max_s
        self._tokens = tokens or TokenKeeper(settings, clock, self._post_token)

    def sharing(self, on_request: RequestHook | None) -> RedexClient:
        """A client for another account of the same REDEX business account (SPEC §14).

        REDEX limits per business account, so accounts that share credentials share this
        client's limiter and token; only the hook that counts requests is their own.
        """
        return RedexClient(
            self._session,
            self._settings,
            clock=self._clock,
            limiter=self._limiter,
            on_request=on_request,
            retry=self._retry,
            poll_interval_s=self._poll_interval_s,
            poll_interval_max_s=self._poll_interval_max_s,
            tokens=self._tokens,
        )

    # -- submissions ---------------------------------------------------------------------------

    async def post_monthly(self, body: str) -> Posted:
        """POST exactly `body` once to monthly-data; what became of it, as the ledger records it."""
        return await self._post_once(
            _Request("monthly_data", "POST", wire.MONTHLY_PATH, body, once=True)
        )

    async def post_days(self, body: str) -> Posted:
        """POST exactly `body` once to the daily batches endpoint (SPEC §11), by the same rule."""
        return await self._post_once(_Request("batches", "POST", BATCHES_PATH, body, once=True))

    async def _post_once(self, request: _Request) -> Posted:
        """One submission and what became of its items.

        REDEX has no idempotency key, so the POST is repeated only when it provably did not
        take effect: a refused connection, 429 (after Retry-After), 502, 503 or 504. A timeout,
        a connection broken after sending, or a 500 may have reached REDEX: Unconfirmed, never
        repeated here. A refused credential raises RedexAuthError.
        """
        try:
            reply = await self._authorised(request)
        except _MaybeTaken as exc:
            log.warning("redex.batch_unconfirmed", endpoint=request.endpoint, error=str(exc))
            return Unconfirmed(str(exc)), None
        except (TransientError, RedexRateLimited) as exc:
            log.warning("redex.batch_pending", endpoint=request.endpoint, error=str(exc))
            return Pending(str(exc)), None
        answer = wire.monthly_answer(reply.status, reply.body)
        log.info(
            "redex.batch_answered",
            endpoint=request.endpoint,
            status=reply.status,
            outcome=type(answer).__name__,
        )
        return answer, (reply.status, reply.text)

    # -- processing ----------------------------------------------------------------------------

    async def status(self, process_id: int) -> ProcessingStatus:
        """REDEX's processing status of one ProcessId."""
        return (await self._status_answer(process_id))[0]

    async def _status_answer(self, process_id: int) -> tuple[ProcessingStatus, str]:
        params = {"ProcessId": str(process_id)}
        request = _Request("statuses", "GET", wire.STATUS_PATH, params=params)
        reply = await self._authorised(request)
        if not 200 <= reply.status < 300:
            message = wire.message_of(reply.body, default="status query refused")
            raise RedexRequestError(reply.status, message)
        return wire.parse_status(reply.body, process_id), reply.text

    async def follow(
        self, process_ids: Iterable[int], *, wait_s: float, on_status: StatusHook | None = None
    ) -> dict[int, str]:
        """Poll until every ProcessId is Success or Failed, or `wait_s` has passed.

        Every id is polled at least once; rounds then repeat with growing spacing while time
        is left. The answer holds the last status seen per id (`Unknown` if none was).
        """
        deadline = self._clock.monotonic() + wait_s
        latest = dict.fromkeys(process_ids, UNKNOWN_STATUS)
        waiting = list(latest)
        interval = self._poll_interval_s
        while waiting:
            for process_id in list(waiting):
                try:
                    found, text = await self._status_answer(process_id)
                except RedexRequestError as exc:
                    log.warning("redex.status_refused", process_id=process_id, error=str(exc))
                    waiting.remove(process_id)
                    continue
                except (TransientError, RedexRateLimited) as exc:
                    log.warning("redex.status_unavailable", process_id=process_id, error=str(exc))
                    break
                latest[process_id] = found.status
                if on_status is not None:
                    await on_status(process_id, found.status, text)
                if found.is_final:
                    waiting.remove(process_id)
                    log.info("redex.process_final", process_id=process_id, status=found.status)
            left = deadline - self._clock.monotonic()
            if not waiting or left <= 0:
                break
            await self._clock.sleep(min(interval, left))
            interval = min(interval * 2, self._poll_interval_max_s)
        return latest

    async def check_token(self) -> None:
        """Obtain a token (api_key grant) so `check` proves the credentials; a static token is kept."""
        await self._tokens.current()

    # -- HTTP ----------------------------------------------------------------------------------

    async def _authorised(self, request: _Request) -> _Reply:
        """A bearer-token request; on 401 one re-authentication and one repeat."""
        reply = await self._call(request)
        if reply.status != 401:
            return reply
        log.info("redex.reauthenticating", endpoint=request.endpoint)
        await self._tokens.replace(reply.token or "")
        reply = await self._call(request)
        if reply.status == 401:
            raise RedexAuthError("REDEX refused a freshly issued token (HTTP 401)")
        return reply

    async def _post_token(self, endpoint: str, path: str, body: str) -> tuple[int, Any]:
        try:
            reply = await self._call(_Request(endpoint, "POST", path, body=body, auth=False))
        except TransientError as exc:
            raise _TokenUnavailable(str(exc)) from exc
        return reply.status, reply.body

    async def _call(self, request: _Request) -> _Reply:
        """One logical request: transient failures retried with backoff, 429s waited out."""
        rate_waits = 0
        while True:
            reply = await self._send_retrying(request)
            if reply.status != 429:
                return reply
            delay = wire.retry_after_s(
                reply.retry_after, now=self._clock.now(), default=self._settings.rate_period_s
            )
            rate_waits += 1
            if rate_waits > self._retry.rate_limit_retries:
                raise RedexRateLimited("REDEX kept answering 429", delay)
            log.warning("redex.rate_limited", endpoint=request.endpoint, retry_after_s=delay)
            await self._clock.sleep(delay)

    async def _send_retrying(self, request: _Request) -> _Reply:
        retrying = self._retry.transient(_provably_not_taken if request.once else _worth_retrying)
        async for attempt in retrying:
            with attempt:
                return await self._send(request)
        raise AssertionError("stamina ended without an attempt")  # pragma: no cover

    async def _take_slot(self, auth: bool) -> tuple[Slot, str | None]:
        """A limiter slot, then at once the bearer token to send (None when `auth` is False).

        Renewal needs requests (and slots) of its own, so it happens before queueing; should
        the token come due while we queued, the slot is given back unused and we queue again.
        """
        for _ in range(3):
            if auth:
                await self._tokens.current()
            slot = await self._limiter.acquire()
            token, fresh = self._tokens.peek() if auth else (None, True)
            if fresh:
                return slot, token
            self._limiter.release(slot)
        slot = await self._limiter.acquire()
        return slot, self._tokens.peek()[0]  # still valid until expiry; a 401 would renew it

    async def _send(self, request: _Request) -> _Reply:
        """Exactly one HTTP exchange, through the limiter, translated into our error tree."""
        endpoint = request.endpoint
        headers = {"Accept": "application/json"}
        if request.body is not None:
            headers["Content-Type"] = "application/json"
        slot, token = await self._take_slot(request.auth)
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        try:
            async with self._session.request(
                request.method,
                self._settings.base_url + request.path,
                data=None if request.body is None else request.body.encode(),
                params=request.params,
                headers=headers,
            ) as response:
                self._limiter.release(slot)
                status = response.status
                retry_after = response.headers.get("Retry-After")
                text = await response.text()
        except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError) as exc:
            self._count(endpoint, "error")
            raise _NotTaken(f"REDEX {endpoint} could not be reached: {type(exc).__name__}") from exc
        except TimeoutError as exc:
            self._count(endpoint, "timeout")
            raise _MaybeTaken(f"REDEX {endpoint} request timed out") from exc
        except aiohttp.ClientError as exc:
            self._count(endpoint, "error")
            raise _MaybeTaken(f"REDEX {endpoint} request failed: {type(exc).__name__}") from exc
        finally:
            self._limiter.release(slot)
        self._count(endpoint, str(status))
        if status in NOT_TAKEN_STATUSES:
            raise _NotTaken(f"REDEX answered {endpoint} with HTTP {status}")
        if status >= 500:
            raise _MaybeTaken(f"REDEX answered {endpoint} with HTTP {status}")
        if status == 429:
            return _Reply(status, None, retry_after, token, text)
        try:
            parsed = json.loads(text) if text.strip() else None
        except ValueError as exc:
            if 200 <= status < 300 and not request.once:
                raise UnexpectedResponseError(f"REDEX {endpoint} answer is not JSON", text) from exc
            parsed = {"Message": f"HTTP {status}: {text[:200]}"}
        return _Reply(status, parsed, retry_after, token, text)

    def _count(self, endpoint: str, outcome: str) -> None:
        if self._on_request is not None:
            self._on_request(endpoint, outcome)
