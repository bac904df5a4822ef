"""REDEX monthly-data payloads and answers as pure values, so the client only moves bytes.

Nothing here does I/O or reads a clock: `now` is an argument wherever time matters.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from email.utils import parsedate_to_datetime
from typing import Any, Final

from fusionbridge.core.models import MONTH_KEYS, round_kwh
from fusionbridge.errors import UnexpectedResponseError

GRANT_PATH: Final = "/public/v2/connect/token"
REFRESH_PATH: Final = "/public/v2/connect/token/refresh"
MONTHLY_PATH: Final = "/public/v2/generation-datas/monthly-data"
STATUS_PATH: Final = "/public/v2/generation-datas/statuses"
# The upstream field table once spells the seventh key "July"; every upstream example uses
# "Jul", and so do we (MONTH_KEYS): all twelve keys are three letters.
PERIOD_KEY: Final = "PeriodProductionPerMonthInKWh"
FINAL_STATUSES: Final = frozenset({"Success", "Failed"})
_ITEM_INDEX = re.compile(r"^\[(\d+)\]")


@dataclass(frozen=True, slots=True)
class MonthlyItem:
    """One remote inverter's year: kWh per month number (1..12); a month left out is sent as null."""

    remote_inv_id: str
    year: int
    kwh: Mapping[int, Decimal | None]

    def __post_init__(self) -> None:
        object.__setattr__(self, "kwh", dict(self.kwh))
        if not self.remote_inv_id:
            raise ValueError("remote_inv_id must not be empty")
        if not 1970 <= self.year <= 9999:
            raise ValueError(f"year {self.year} is out of range")
        for month, value in self.kwh.items():
            if not 1 <= month <= 12:
                raise ValueError(f"month must be 1..12, not {month}")
            if value is not None and (not value.is_finite() or value < 0):
                raise ValueError(f"kWh for month {month} must be a finite amount >= 0")

    @property
    def key(self) -> tuple[str, int]:
        """What REDEX allows once per request: the inverter and the year."""
        return (self.remote_inv_id, self.year)

    def months(self) -> dict[str, Decimal | None]:
        """All twelve REDEX month keys, in order, rounded half-up to 3 places or None."""
        values: dict[str, Decimal | None] = {}
        for number, key in enumerate(MONTH_KEYS, start=1):
            value = self.kwh.get(number)
            values[key] = None if value is None else round_kwh(value)
        return values


def ensure_unique(items: Iterable[MonthlyItem]) -> None:
    """Refuse a second item for the same (RemoteInvId, Year): REDEX takes one per request."""
    seen: set[tuple[str, int]] = set()
    for item in items:
        if item.key in seen:
            raise ValueError(f"{item.remote_inv_id} {item.year} appears twice")
        seen.add(item.key)


def batches(items: Sequence[MonthlyItem], size: int) -> list[list[MonthlyItem]]:
    """Split items into requests of at most `size`, keeping their order."""
    if size < 1:
        raise ValueError("batch size must be at least 1")
    return [list(items[start : start + size]) for start in range(0, len(items), size)]


def payload(items: Sequence[MonthlyItem]) -> list[dict[str, Any]]:
    """The monthly-data request body as Python values (Decimal kWh, None for null)."""
    ensure_unique(items)
    return [
        {
            "RemoteInvId": item.remote_inv_id,
            "Data": {"Year": item.year, PERIOD_KEY: item.months()},
        }
        for item in items
    ]


def dumps_payload(items: Sequence[MonthlyItem]) -> str:
    """The exact JSON text sent (and printed by `push --dry-run`): one item per line, exact decimals."""
    lines = [_encode(entry) for entry in payload(items)]
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


@dataclass(frozen=True, slots=True)
class Created:
    """201: REDEX queued the request for processing under this id."""

    process_id: int


@dataclass(frozen=True, slots=True)
class Refused:
    """400 (or another 4xx): the request as a whole is invalid."""

    status: int
    message: str


@dataclass(frozen=True, slots=True)
class Unprocessable:
    """422: REDEX names offending items by their index in the request."""

    item_errors: dict[int, str]
    message: str


MonthlyReply = Created | Refused | Unprocessable


def parse_monthly_reply(status: int, body: object) -> MonthlyReply:
    """Read the answer to a monthly-data POST (5xx and 429 never reach here)."""
    if 200 <= status < 300:
        process_id = _envelope_data(body).get("ProcessId")
        if isinstance(process_id, bool) or not isinstance(process_id, int | str):
            raise UnexpectedResponseError("REDEX accepted the data without a ProcessId", str(body))
        try:
            return Created(int(process_id))
        except ValueError as exc:
            raise UnexpectedResponseError("REDEX sent a non-numeric ProcessId", str(body)) from exc
    message = message_of(body, default=f"HTTP {status}")
    if status == 422:
        return Unprocessable(item_errors(body), message)
    return Refused(status, message)


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
