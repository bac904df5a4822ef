"""FusionSolar's wire format, pure: request bodies, the envelope and its failCodes, typed parsing.

Nothing here does I/O or reads a clock; the client hands in status codes, body text and `now`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from enum import IntEnum
from typing import TypeVar

from fusionbridge.core.models import Device, KpiRow, Plant
from fusionbridge.errors import (
    DailyCapError,
    FusionSolarApiError,
    FusionSolarLoginError,
    FusionSolarRateLimited,
    PlatformThrottled,
    SessionExpired,
    TransientError,
    UnexpectedResponseError,
    UpstreamError,
)

MAX_PLANTS_PER_CALL = 100
MAX_DEVICES_PER_CALL = 100
STATIONS_PAGE_SIZE = 100
THROTTLE_RETRY_AFTER_S = 60.0
"""Huawei asks to wait at least a minute after its platform-wide HTTP 403/429 throttle."""

_T = TypeVar("_T")
_NO_DATA = frozenset({"", "N/A", "NA", "-", "--", "null"})


class FailCode(IntEnum):
    """The failCodes fusionbridge treats specially (DOC23 §10); any other is an API error."""

    OK = 0
    NOT_LOGGED_IN = 305
    NO_PERMISSION = 401
    ACCESS_FREQUENCY = 407
    SYSTEM_ID_MISSING = 20001
    SYSTEM_FORBIDDEN = 20002
    SYSTEM_EXPIRED = 20003
    SERVER_ABNORMAL = 20004
    DEVICE_TYPE_MISMATCH = 20006
    DEVICE_TYPE_UNSUPPORTED = 20013
    TOO_MANY_PLANTS = 20014
    TOO_MANY_PLANTS_LIST = 20015
    TOO_MANY_DEVICES = 20016
    TOO_MANY_DEVICES_REAL = 20017
    OUT_OF_HISTORY = 20026
    OWNER_NOT_AUTHORISED = 20056
    SYSTEM_BUSY = 20200
    LOGIN_REFUSED = 20400
    LOGIN_RESTRICTED = 20403
    DAILY_CAP = 20618
    PAGE_SIZE = 30006
    INTERNAL_CALL_FAILED = 30008


RETRYABLE_CODES = frozenset({FailCode.SYSTEM_BUSY, FailCode.INTERNAL_CALL_FAILED})
CREDENTIAL_CODES = frozenset(
    {
        FailCode.SYSTEM_ID_MISSING,
        FailCode.SYSTEM_FORBIDDEN,
        FailCode.SYSTEM_EXPIRED,
        FailCode.LOGIN_REFUSED,
        FailCode.LOGIN_RESTRICTED,
    }
)
QUOTA_CODES = frozenset({FailCode.ACCESS_FREQUENCY, FailCode.SERVER_ABNORMAL, FailCode.DAILY_CAP})
"""20004 is flow control as production OAuth clients meet it: back off and retry later."""

_CODE_HINTS: dict[int, str] = {
    FailCode.NO_PERMISSION: "the API account may not use this interface (ask the installer to tick it)",
    FailCode.DEVICE_TYPE_MISMATCH: "some devices do not match devTypeId",
    FailCode.OUT_OF_HISTORY: "FusionSolar only serves the last 365 days",
    FailCode.SERVER_ABNORMAL: "flow control, backing off",
    FailCode.OWNER_NOT_AUTHORISED: "the plant owner has not authorised this data for fusionbridge",
    FailCode.SYSTEM_ID_MISSING: "unknown API user",
    FailCode.SYSTEM_FORBIDDEN: "API account forbidden",
    FailCode.SYSTEM_EXPIRED: "API account expired (its deadline has passed)",
    FailCode.LOGIN_REFUSED: "wrong user or system code, account locked, or session limit reached",
    FailCode.LOGIN_RESTRICTED: "login of this API user is restricted",
}


# --- request bodies -------------------------------------------------------------------------


def epoch_ms(instant: datetime) -> int:
    """An aware instant as FusionSolar's epoch milliseconds."""
    if instant.tzinfo is None:
        raise ValueError("collectTime needs an aware datetime")
    return int(instant.timestamp() * 1000)


def from_epoch_ms(value: int) -> datetime:
    """Epoch milliseconds as an aware UTC instant."""
    return datetime.fromtimestamp(value / 1000, tz=UTC)


def login_body(username: str, system_code: str) -> dict[str, str]:
    return {"userName": username, "systemCode": system_code}


def stations_body(page_no: int, page_size: int = STATIONS_PAGE_SIZE) -> dict[str, int]:
    return {"pageNo": page_no, "pageSize": page_size}


def plants_body(codes: Sequence[str]) -> dict[str, str]:
    return {"stationCodes": ",".join(codes)}


def plant_kpi_body(codes: Sequence[str], collect_time: datetime) -> dict[str, str | int]:
    return {"stationCodes": ",".join(codes), "collectTime": epoch_ms(collect_time)}


def devices_body(type_id: int, device_ids: Sequence[int]) -> dict[str, str | int]:
    return {"devIds": ",".join(str(i) for i in device_ids), "devTypeId": type_id}


def device_kpi_body(
    type_id: int, device_ids: Sequence[int], collect_time: datetime
) -> dict[str, str | int]:
    return {**devices_body(type_id, device_ids), "collectTime": epoch_ms(collect_time)}


def chunked(items: Sequence[_T], size: int) -> list[Sequence[_T]]:
    """Consecutive slices of at most `size` items."""
    return [items[i : i + size] for i in range(0, len(items), size)]


def device_batches(
    devices: Iterable[Device], size: int = MAX_DEVICES_PER_CALL
) -> list[tuple[int, list[int]]]:
    """(devTypeId, ids) batches: one type per call, at most `size` ids, the fewest calls possible."""
    by_type: dict[int, list[int]] = {}
    for device in devices:
        ids = by_type.setdefault(device.type_id, [])
        if device.id not in ids:
            ids.append(device.id)
    return [
        (type_id, list(batch))
        for type_id in sorted(by_type)
        for batch in chunked(by_type[type_id], size)
    ]


# --- the envelope -----------------------------------------------------------------------------


def snippet(text: str) -> str:
    """The start of an unexpected body, for logs and errors."""
    return text.strip()[:200]


def decode_json(text: str) -> object:
    """The body as JSON, or UnexpectedResponseError quoting its first 200 characters."""
    if not text.strip():
        raise UnexpectedResponseError("FusionSolar answered with an empty body")
    try:
        return json.loads(text)
    except ValueError:
        raise UnexpectedResponseError("FusionSolar answered with a non-JSON body", text) from None


def _fail_code(payload: Mapping[str, object]) -> int | None:
    code = payload.get("failCode")
    if code is None or isinstance(code, bool):
        return None
    try:
        return int(str(code))
    except ValueError:
        return None


def _error_text(payload: Mapping[str, object]) -> str:
    # 407 puts its reason in `data`; other errors use `message`.
    for key in ("message", "data"):
        value = payload.get(key)
        if isinstance(value, str | int) and str(value):
            return str(value)
    return ""


def check_status(status: int, text: str) -> None:
    """Map an HTTP status that is not a normal FusionSolar answer to the error tree."""
    if status in (403, 429) and not _has_fail_code(text):
        raise PlatformThrottled(
            f"FusionSolar throttled the platform (HTTP {status})", THROTTLE_RETRY_AFTER_S
        )
    if status == 401 and not _has_fail_code(text):  # the gateway refused the bearer token
        raise SessionExpired("FusionSolar refused the access token (HTTP 401)")
    if status >= 500:
        raise UnexpectedResponseError(f"FusionSolar answered HTTP {status}", text)
    if status != 200 and not _has_fail_code(text):
        raise UpstreamError(f"FusionSolar answered HTTP {status}: {snippet(text)!r}")


def _has_fail_code(text: str) -> bool:
    try:
        payload = json.loads(text)
    except ValueError:
        return False
    return isinstance(payload, dict) and _fail_code(payload) is not None


def unwrap(status: int, text: str) -> object:
    """The `data` of a successful answer; every failure raised as the matching error."""
    check_status(status, text)
    payload = decode_json(text)
    if not isinstance(payload, dict):
        raise UnexpectedResponseError("FusionSolar answered JSON that is not an object", text)
    code = _fail_code(payload)
    if code is None or code == FailCode.OK:
        if code is None and payload.get("success") is not True:
            raise UnexpectedResponseError("FusionSolar answered without failCode or success", text)
        return payload.get("data")
    raise_for_fail_code(code, _error_text(payload))
    raise AssertionError("unreachable")  # pragma: no cover


def raise_for_fail_code(code: int, message: str) -> None:
    """Raise the error a non-zero failCode stands for."""
    hint = _CODE_HINTS.get(code, "")
    detail = "; ".join(part for part in (message, hint) if part)
    if code == FailCode.NOT_LOGGED_IN:
        raise SessionExpired("FusionSolar says the session expired (failCode 305)")
    if code in QUOTA_CODES:
        if code == FailCode.DAILY_CAP:  # the client knows the zone, so it sets retry_after
            raise DailyCapError("FusionSolar daily call cap reached (failCode 20618)", 0.0)
        raise FusionSolarRateLimited(
            f"FusionSolar rate limit (failCode {code}): {detail or 'too frequent'}",
            THROTTLE_RETRY_AFTER_S,
        )
    if code in CREDENTIAL_CODES:
        raise FusionSolarLoginError(
            f"FusionSolar refused the account (failCode {code}): {hint}", code
        )
    if code in RETRYABLE_CODES:
        raise TransientError(f"FusionSolar is busy (failCode {code}): {detail}")
    raise FusionSolarApiError(code, detail or "request refused")


# --- login ------------------------------------------------------------------------------------


def check_login(status: int, text: str, username: str) -> None:
    """Accept a login answer or raise; an empty 200 body is how Huawei says "wrong credentials"."""
    if status == 200 and not text.strip():
        raise FusionSolarLoginError(
            f"FusionSolar refused the login of user {username!r}: wrong user name or system code"
        )
    try:
        unwrap(status, text)
    except FusionSolarLoginError as exc:
        raise FusionSolarLoginError(
            f"FusionSolar refused the login of user {username!r} "
            f"(failCode {exc.fail_code}): {_CODE_HINTS.get(exc.fail_code or 0, '')}",
            exc.fail_code,
        ) from None


def token_from(headers: Mapping[str, str], cookies: Mapping[str, str]) -> str | None:
    """The session token: header `xsrf-token` first, the legacy `XSRF-TOKEN` cookie second."""
    for name, value in headers.items():
        if name.lower() == "xsrf-token" and value:
            return value
    for name, value in cookies.items():
        if name.upper() == "XSRF-TOKEN" and value:
            return value
    return None


# --- parsing ----------------------------------------------------------------------------------


def parse_value(value: object) -> tuple[Decimal | None, str | None]:
    """(Decimal or None, upstream text): numbers and numeric strings count, null/"N/A" do not."""
    if value is None:
        return None, None
    if isinstance(value, bool):
        return None, str(value).lower()
    if isinstance(value, int | float):
        text = str(value)
        return _finite(text), text
    if isinstance(value, str):
        stripped = value.strip()
        if stripped in _NO_DATA:
            return None, value
        return _finite(stripped), value
    return None, json.dumps(value)


def _finite(text: str) -> Decimal | None:
    try:
        number = Decimal(text)
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def _records(data: object, what: str) -> list[Mapping[str, object]]:
    if data is None:
        return []
    if not isinstance(data, list):
        raise UnexpectedResponseError(f"{what}: expected a list", json.dumps(data)[:200])
    return [item for item in data if isinstance(item, dict)]


def _text(value: object) -> str:
    return "" if value is None else str(value)


def _optional_text(value: object) -> str | None:
    text = _text(value).strip()
    return text or None


def parse_stations_page(data: object) -> tuple[list[Plant], int]:
    """One page of `stations`: its plants (capacity in kWp) and the page count."""
    if not isinstance(data, dict):
        raise UnexpectedResponseError("stations: expected an object", json.dumps(data)[:200])
    plants = [
        Plant(
            code=_text(item.get("plantCode")),
            name=_text(item.get("plantName")),
            capacity_kwp=parse_value(item.get("capacity"))[0],
            grid_connection_date=_optional_text(item.get("gridConnectionDate")),
        )
        for item in _records(data.get("list"), "stations.list")
    ]
    page_count = parse_value(data.get("pageCount"))[0]
    return plants, int(page_count) if page_count is not None else 1


def parse_station_list(data: object) -> list[Plant]:
    """Legacy `getStationList`, whose capacity is in MW."""
    plants = []
    for item in _records(data, "getStationList"):
        megawatt = parse_value(item.get("capacity"))[0]
        plants.append(
            Plant(
                code=_text(item.get("stationCode")),
                name=_text(item.get("stationName")),
                capacity_kwp=None if megawatt is None else megawatt * 1000,
            )
        )
    return plants


def parse_devices(data: object) -> list[Device]:
    """`getDevList` rows; ids are kept as Python ints (they exceed 2^53 in some accounts)."""
    devices = []
    for item in _records(data, "getDevList"):
        ident, type_id = item.get("id"), item.get("devTypeId")
        if not isinstance(ident, int) or not isinstance(type_id, int):
            raise UnexpectedResponseError("getDevList: row without integer id", json.dumps(item))
        devices.append(
            Device(
                id=ident,
                plant_code=_text(item.get("stationCode")),
                type_id=type_id,
                name=_text(item.get("devName")),
                esn=_optional_text(item.get("esnCode")),
                model=_optional_text(item.get("invType")),
            )
        )
    return devices


def parse_kpi_rows(data: object, id_key: str, now: datetime | None = None) -> list[KpiRow]:
    """KPI rows keyed by `id_key`; bucketed rows carry collectTime, real-time ones take `now`."""
    rows = []
    for item in _records(data, "KPI"):
        collect = item.get("collectTime")
        if isinstance(collect, int) and not isinstance(collect, bool):
            start = from_epoch_ms(collect)
        elif now is not None:
            start = now
        else:
            raise UnexpectedResponseError("KPI row without collectTime", json.dumps(item)[:200])
        items = item.get("dataItemMap")
        values: dict[str, Decimal | None] = {}
        raw: dict[str, str | None] = {}
        if isinstance(items, dict):
            for key, value in items.items():
                values[key], raw[key] = parse_value(value)
        rows.append(KpiRow(_text(item.get(id_key)), start, values, raw))
    return rows
