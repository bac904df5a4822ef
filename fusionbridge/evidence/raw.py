"""A FusionSolar response kept as received: the bytes, their SHA-256, the request, the fetch time."""

from __future__ import annotations

import bz2
import hashlib
import json
import zlib
from calendar import monthrange
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from fusionbridge.core.models import Month

CODEC = "bz2"
"""How bodies are compressed in the ledger: answers are written once and read rarely, and on
FusionSolar's JSON bz2 at level 9 keeps about 30 % fewer bytes than zlib's best."""


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

    @classmethod
    def received(
        cls, endpoint: str, body: Mapping[str, object], at: datetime, raw: bytes
    ) -> RawResponse:
        """An answer as received, with the request body as aiohttp serialised it (json.dumps)."""
        asked = body.get("devIds") or body.get("stationCodes") or ""
        ids = tuple(str(asked).split(",")) if asked else ()
        return cls(endpoint, json.dumps(body), at, raw, ids)


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def compress(body: bytes) -> bytes:
    return bz2.compress(body, 9)


def decompress(stored: bytes, codec: str = CODEC) -> bytes:
    """The body as received; `codec` is what the ledger row says it was stored with."""
    if codec == "bz2":
        return bz2.decompress(stored)
    if codec == "zlib":
        return zlib.decompress(stored)
    raise ValueError(f"unknown raw answer codec {codec!r}")


def keep_since(now: datetime, keep_months: int) -> datetime:
    """The oldest fetch time still kept: `keep_months` calendar months before `now` (UTC)."""
    index = now.year * 12 + now.month - 1 - keep_months
    year, month = index // 12, index % 12 + 1
    return now.replace(year=year, month=month, day=min(now.day, monthrange(year, month)[1]))
