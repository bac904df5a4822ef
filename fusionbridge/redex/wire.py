"""REDEX monthly-data payloads and answers as pure values, so the client only moves bytes.

Nothing here does I/O or reads a clock: `now` is an argument wherever time matters.
"""

from __future__ import annotations

import contextlib
import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from email.utils import parsedate_to_datetime
from typing import Any, Final, TypeVar

from fusionbridge.core.models import MONTH_KEYS
from fusionbridge.core.outcomes import Failed, Outcome, Rejected, Sent, Unconfirmed
from fusionbridge.core.push_plan import PushItem
from fusionbridge.errors import UnexpectedResponseError

GRANT_PATH: Final = "/public/v2/connect/token"
REFRESH_PATH: Final = "/public/v2/connect/token/refresh"
MONTHLY_PATH: Final = "/public/v2/generation-datas/monthly-data"
STATUS_PATH: Final = "/public/v2/generation-datas/statuses"
# The upstream field table once spells the seventh key "July"; every upstream example uses
# "Jul", and so do we (MONTH_KEYS): all twelve keys are three letters.
PERIOD_KEY: Final = "PeriodProductionPerMonthInKWh"
FINAL_STATUSES: Final = frozenset({"Success", "Failed"})
_ITEM_INDEX = re.compile(r"^(?:Devices)?\[(\d+)\]", re.IGNORECASE)
"""`[3].RemoteInvId` (monthly items) or `Devices[3].…` (daily batches): the index in the request."""


def ensure_unique(items: Iterable[PushItem]) -> None:
    """Refuse a second item for the same (RemoteInvId, Year): REDEX takes one per request."""
    seen: set[tuple[str, int]] = set()
    for item in items:
        if item.key in seen:
            raise ValueError(f"{item.remote_inv_id} {item.year} appears twice")
        seen.add(item.key)


def batches(items: Sequence[PushItem], size: int) -> list[list[PushItem]]:
    """Split items into requests of at most `size`, keeping their order."""
    if size < 1:
        raise ValueError("batch size must be at least 1")
    return [list(items[start : start + size]) for start in range(0, len(items), size)]


def encode(items: Sequence[PushItem]) -> str:
    """The exact JSON text of one monthly-data request: logged, printed by `--dry-run`, sent.

    One item per line, all twelve month keys, the plan's rounded decimals written digit for
    digit (never through float), null where a month is not due or held.
    """
    ensure_unique(items)
    lines = [
        _encode(
            {
                "RemoteInvId": item.remote_inv_id,
                "Data": {
                    "Year": item.year,
                    PERIOD_KEY: dict(zip(MONTH_KEYS, item.values, strict=True)),
                },
            }
        )
        for item in items
    ]
    return "[\n" + ",\n".join(lines) + "\n]"


def _encode(value: object) -> str:
    """JSON text for our payload values, writing Decimal digits as they are instead of via float."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, int | str):
        return json.dumps(value)
    if isinstance(value, Mapping):
        return (
            "{" + ", ".join(f"{json.dumps(str(k))}: {_encode(v)}" for k, v in value.items()) + "}"
        )
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_encode(v) for v in value) + "]"
    raise TypeError(f"cannot encode {type(value).__name__} as JSON")


T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Unprocessable:
    """422: REDEX names offending items by their index in the request; nothing was taken."""

    item_errors: dict[int, str]
    message: str


MonthlyAnswer = Outcome | Unprocessable


def per_item(answer: MonthlyAnswer, items: Sequence[T]) -> tuple[list[tuple[T, Outcome]], list[T]]:
    """What an answer decides for each item, and the items to send again after a 422.

    A 422 naming some items rejects those; the others took nothing and go out again in a request
    of their own. A 422 naming none rejects them all; any other answer is every item's outcome.
    """
    if not isinstance(answer, Unprocessable):
        return [(item, answer) for item in items], []
    named = {i: m for i, m in answer.item_errors.items() if 0 <= i < len(items)}
    if not named:
        return [(item, Rejected(answer.message)) for item in items], []
    rejected: list[tuple[T, Outcome]] = [(items[i], Rejected(m)) for i, m in named.items()]
    return rejected, [item for i, item in enumerate(items) if i not in named]


def monthly_answer(status: int, body: object) -> MonthlyAnswer:
    """What an HTTP answer to a monthly-data POST means for its items (429 never reaches here).

    201 with a ProcessId: sent. 201 without a usable one: failed (REDEX may hold the data, we
    cannot follow it; re-sent only on --force). 422: per item. 500, or another 5xx, may have
    taken effect: unconfirmed. Any other answer (400) refuses the request as a whole: rejected.
    """
    if 200 <= status < 300:
        process_id = _envelope_data(body).get("ProcessId")
        if isinstance(process_id, int | str) and not isinstance(process_id, bool):
            with contextlib.suppress(ValueError):
                return Sent(int(process_id))
        return Failed(f"REDEX answered HTTP {status} without a usable ProcessId")
    if status >= 500:
        return Unconfirmed(f"REDEX answered HTTP {status}: it may have taken the data")
    message = message_of(body, default=f"HTTP {status}")
    if status == 422:
        return Unprocessable(item_errors(body), message)
    return Rejected(message)


def item_errors(body: object) -> dict[int, str]:
    """Map `Errors[].Key` like `[3].RemoteInvId` or `[0].Data.X.Jan` to item index → message."""
    errors = body.get("Errors") if isinstance(body, dict) else None
    found: dict[int, list[str]] = {}
    for error in errors if isinstance(errors, list) else []:
        if not isinstance(error, dict):
            continue
        match = _ITEM_INDEX.match(str(error.get("Key") or ""))
        if match is None:
            continue
        texts = _error_texts(error)
        found.setdefault(int(match[1]), []).extend(texts or [str(error.get("Key"))])
    return {index: "; ".join(dict.fromkeys(texts)) for index, texts in found.items()}


def _error_texts(error: dict[str, Any]) -> list[str]:
    texts = [str(m) for m in error.get("Messages") or [] if m]
    message = error.get("Message")
    if message and str(message) not in texts:
        texts.insert(0, str(message))
    return texts


def message_of(body: object, *, default: str) -> str:
    """The envelope's `Message`, else its first error's text, else `default`."""
    if isinstance(body, dict):
        message = body.get("Message")
        if isinstance(message, str) and message:
            return message
        errors = body.get("Errors")
        if isinstance(errors, list) and errors and isinstance(errors[0], dict):
            texts = _error_texts(errors[0])
            if texts:
                return texts[0]
    return default


@dataclass(frozen=True, slots=True)
class TokenGrant:
    """What a token grant or refresh returns; the secrets stay out of the repr."""

    access_token: str = field(repr=False)
    refresh_token: str | None = field(repr=False)
    expires_in_s: float


DEFAULT_TOKEN_LIFETIME_S: Final = 3600.0


def parse_token(body: object) -> TokenGrant:
    """Read `Data.AccessToken`, `RefreshToken` and `ExpiresIn` (seconds, sent as a string)."""
    data = _envelope_data(body)
    access = data.get("AccessToken")
    if not isinstance(access, str) or not access:
        raise UnexpectedResponseError("REDEX token answer has no AccessToken")
    refresh = data.get("RefreshToken")
    expires = data.get("ExpiresIn")
    try:
        lifetime = DEFAULT_TOKEN_LIFETIME_S if expires in (None, "") else float(expires)
    except (TypeError, ValueError) as exc:
        raise UnexpectedResponseError("REDEX token answer has a bad ExpiresIn") from exc
    if lifetime <= 0:
        raise UnexpectedResponseError("REDEX token answer has a bad ExpiresIn")
    return TokenGrant(access, refresh if isinstance(refresh, str) and refresh else None, lifetime)


@dataclass(frozen=True, slots=True)
class ProcessingStatus:
    """Where REDEX is with one ProcessId: New, Processing, Success or Failed."""

    process_id: int
    status: str
    processing_type: str | None = None
    updated_time: str | None = None

    @property
    def is_final(self) -> bool:
        return self.status in FINAL_STATUSES


def parse_status(body: object, process_id: int) -> ProcessingStatus:
    """Read `Data.Status` of a statuses answer; an unknown status word is kept, not final."""
    data = _envelope_data(body)
    status = data.get("Status")
    if not isinstance(status, str) or not status:
        raise UnexpectedResponseError("REDEX status answer has no Status", str(body))
    kind = data.get("ProcessingType")
    updated = data.get("UpdatedTime")
    return ProcessingStatus(
        process_id,
        status,
        kind if isinstance(kind, str) else None,
        updated if isinstance(updated, str) else None,
    )


def retry_after_s(header: str | None, *, now: datetime, default: float) -> float:
    """Seconds to wait from a `Retry-After` header: delay-seconds or an HTTP date."""
    if header is None or not header.strip():
        return default
    text = header.strip()
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        return max(0.0, seconds) if math.isfinite(seconds) else default
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return default
    if when.tzinfo is None:
        return default
    return max(0.0, (when - now).total_seconds())


def _envelope_data(body: object) -> dict[str, Any]:
    data = body.get("Data") if isinstance(body, dict) else None
    return data if isinstance(data, dict) else {}
