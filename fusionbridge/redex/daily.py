"""Daily records to REDEX with SPEC §10's rule: a POST is repeated only if it provably did not land.

REDEX offers no idempotency key. So a batches POST is retried within a run only when the
connection was refused, or the answer was 429 (after `Retry-After`), 502, 503 or 504. A timeout,
a connection broken after the body went out, or a 500 may have reached REDEX: those records come
back `unconfirmed` and the next run sends them once more. The exchange shares the monthly
client's session, limiter and tokens, so the account's rate window holds for both.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import aiohttp
import stamina

from fusionbridge.errors import RedexAuthError, TransientError, UnexpectedResponseError
from fusionbridge.logs import get_logger
from fusionbridge.redex import daily_wire, wire
from fusionbridge.redex.client import RedexClient
from fusionbridge.redex.daily_wire import DeviceDays

log = get_logger(__name__)

ENDPOINT = "batches"
NOT_TAKEN_STATUSES = frozenset({502, 503, 504})
"""Gateway answers: the request never reached the application behind them."""

DayStatus = Literal["sent", "rejected", "failed", "pending", "unconfirmed"]


@dataclass(frozen=True, slots=True)
class DeviceOutcome:
    """What became of one device's records in one request."""

    device: DeviceDays
    status: DayStatus
    process_id: int | None = None
    message: str | None = None


BeforeSend = Callable[[Sequence[DeviceDays]], Awaitable[None]]
AfterSend = Callable[[Sequence[DeviceOutcome]], Awaitable[None]]


class NotDelivered(TransientError):
    """The POST provably did not take effect (refused connection, 502/503/504): safe to repeat."""


class MaybeDelivered(TransientError):
    """The POST may have reached REDEX (timeout, 500, broken connection): never repeat it now."""


@dataclass(frozen=True, slots=True)
class _Answer:
    status: int
    body: Any
    retry_after: str | None
    token: str | None


async def submit_days(
    client: RedexClient,
    requests: Sequence[Sequence[DeviceDays]],
    *,
    before_send: BeforeSend,
    after_send: AfterSend,
) -> list[DeviceOutcome]:
    """Send each request; a 422 re-sends the devices it did not name in a new request.

    `before_send` runs before every POST (the ledger logs the payload), `after_send` after its
    outcome is known. Once a request ends `pending` (REDEX unreachable or throttling past
    patience) the later ones are not tried: their days stay due for the next run.
    """
    outcomes: list[DeviceOutcome] = []
    for devices in requests:
        remaining = list(devices)
        while remaining:
            await before_send(remaining)
            # Should this raise (a refused credential, a cancelled task), the request stays open
            # in the ledger like a crash's: the next run sends its days once more.
            done, remaining = await _send_once(client, remaining)
            await after_send(done)
            outcomes.extend(done)
            if any(o.status == "pending" for o in done):
                return outcomes
    return outcomes


async def _send_once(
    client: RedexClient, devices: list[DeviceDays]
) -> tuple[list[DeviceOutcome], list[DeviceDays]]:
    """One logical POST (repeated only while provably not delivered); outcomes and devices left."""
    body = daily_wire.dumps_batch(devices)
    try:
        answer = await _post(client, body)
        reply = daily_wire.parse_batch_reply(answer.status, answer.body)
    except MaybeDelivered as exc:
        log.warning("redex.days_unconfirmed", devices=len(devices), error=str(exc))
        return [DeviceOutcome(d, "unconfirmed", None, str(exc)) for d in devices], []
    except UnexpectedResponseError as exc:
        log.warning("redex.days_unusable_answer", devices=len(devices), error=str(exc))
        return [DeviceOutcome(d, "failed", None, str(exc)) for d in devices], []
    except TransientError as exc:
        log.warning("redex.days_pending", devices=len(devices), error=str(exc))
        return [DeviceOutcome(d, "pending", None, str(exc)) for d in devices], []
    match reply:
        case wire.Created(process_id):
            log.info("redex.days_sent", devices=len(devices), process_id=process_id)
            return [DeviceOutcome(d, "sent", process_id) for d in devices], []
        case wire.Refused(status, message):
            state: DayStatus = "rejected" if status == 400 else "failed"
            log.warning("redex.days_refused", devices=len(devices), status=status, error=message)
            return [DeviceOutcome(d, state, None, message) for d in devices], []
        case wire.Unprocessable(errors, message):
            named = {i: m for i, m in errors.items() if 0 <= i < len(devices)}
            if not named:
                log.warning("redex.days_refused", devices=len(devices), status=422, error=message)
                return [DeviceOutcome(d, "rejected", None, message) for d in devices], []
            log.warning(
                "redex.days_rejected", devices=len(named), resending=len(devices) - len(named)
            )
            rejected = [DeviceOutcome(devices[i], "rejected", None, m) for i, m in named.items()]
            return rejected, [d for i, d in enumerate(devices) if i not in named]


async def _post(client: RedexClient, body: str) -> _Answer:
    """Retry what provably did not land; wait out 429s; re-authenticate once on 401."""
    policy = client._retry
    rate_waits, reauthenticated = 0, False
    while True:
        answer: _Answer | None = None
        async for attempt in stamina.retry_context(
            on=NotDelivered,
            attempts=policy.attempts,
            timeout=policy.timeout_s,
            wait_initial=policy.wait_initial_s,
            wait_max=policy.wait_max_s,
            wait_jitter=policy.wait_jitter_s,
        ):
            with attempt:
                answer = await _exchange(client, body)
        assert answer is not None  # noqa: S101 (stamina either returned an answer or raised)
        if answer.status == 401 and reauthenticated:
            raise RedexAuthError("REDEX refused a freshly issued token (HTTP 401)")
        if answer.status == 401:
            log.info("redex.reauthenticating", endpoint=ENDPOINT)
            await client._tokens.replace(answer.token or "")
            reauthenticated = True
            continue
        if answer.status != 429:
            return answer
        delay = wire.retry_after_s(
            answer.retry_after, now=client._clock.now(), default=client._settings.rate_period_s
        )
        rate_waits += 1
        if rate_waits > policy.max_rate_waits:
            raise TransientError("REDEX kept answering 429")
        log.warning("redex.rate_limited", endpoint=ENDPOINT, retry_after_s=delay)
        await client._clock.sleep(delay)


async def _exchange(client: RedexClient, body: str) -> _Answer:
    """Exactly one HTTP exchange through the shared limiter, its failure classified for §10."""
    slot, token = await client._take_slot(True)
    headers = {"Accept": "application/json", "Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    try:
        async with client._session.post(
            client._settings.base_url + daily_wire.BATCHES_PATH,
            data=body.encode(),
            headers=headers,
        ) as response:
            client._limiter.release(slot)
            status = response.status
            retry_after = response.headers.get("Retry-After")
            text = await response.text()
    except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError) as exc:
        client._count(ENDPOINT, "error")
        raise NotDelivered(f"REDEX {ENDPOINT}: cannot connect ({type(exc).__name__})") from exc
    except TimeoutError as exc:
        client._count(ENDPOINT, "timeout")
        raise MaybeDelivered(f"REDEX {ENDPOINT} request timed out") from exc
    except aiohttp.ClientError as exc:
        client._count(ENDPOINT, "error")
        raise MaybeDelivered(f"REDEX {ENDPOINT} connection broke ({type(exc).__name__})") from exc
    finally:
        client._limiter.release(slot)
    client._count(ENDPOINT, str(status))
    if status in NOT_TAKEN_STATUSES:
        raise NotDelivered(f"REDEX answered {ENDPOINT} with HTTP {status}")
    if status >= 500:
        raise MaybeDelivered(f"REDEX answered {ENDPOINT} with HTTP {status}")
    if status == 429:
        return _Answer(status, None, retry_after, token)
    try:
        parsed = json.loads(text) if text.strip() else None
    except ValueError as exc:
        if 200 <= status < 300:
            raise UnexpectedResponseError(f"REDEX {ENDPOINT} answer is not JSON", text) from exc
        parsed = {"Message": f"HTTP {status}: {text[:200]}"}
    return _Answer(status, parsed, retry_after, token)
