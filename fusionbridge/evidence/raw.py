"""A FusionSolar response kept as received: the bytes, their SHA-256, the request, the fetch time."""

from __future__ import annotations

import hashlib
import zlib
from calendar import monthrange
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from fusionbridge.models import Month

COMPRESSION_LEVEL = 9
"""zlib level: bodies are written once and read rarely, so the smallest ledger wins."""


@dataclass(frozen=True, slots=True)
class TracedReading:
    """A stored value with the raw text and key it was read from and the answer that carried it."""

    period: date | Month
    kwh: Decimal
    raw: str
    key: str
    fetched_at: datetime
    raw_response_id: int | None
    previous_kwh: Decimal | None = None


@dataclass(frozen=True, slots=True)
class RawResponse:
    """One answer of a data call; `object_ids` are the devIds or stationCodes it was asked for."""

    endpoint: str
    request: str
    fetched_at: datetime
    body: bytes = field(repr=False)
    object_ids: tuple[str, ...] = ()

    @property
    def sha256(self) -> str:
        return sha256_hex(self.body)


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def compress(body: bytes) -> bytes:
    return zlib.compress(body, COMPRESSION_LEVEL)


def decompress(stored: bytes) -> bytes:
    return zlib.decompress(stored)


def keep_since(now: datetime, keep_months: int) -> datetime:
    """The oldest fetch time still kept: `keep_months` calendar months before `now` (UTC)."""
    index = now.year * 12 + now.month - 1 - keep_months
    year, month = index // 12, index % 12 + 1
    return now.replace(year=year, month=month, day=min(now.day, monthrange(year, month)[1]))
