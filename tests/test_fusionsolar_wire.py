"""The pure FusionSolar wire format: bodies, envelope and failCodes, parsing, periods."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from fusionbridge.core.models import Device
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
from fusionbridge.fusionsolar import wire

AMSTERDAM = ZoneInfo("Europe/Amsterdam")


def _body(**fields: object) -> str:
    return json.dumps(fields)


def test_wire_imports_no_io_library() -> None:
    code = (
        "import sys, fusionbridge.fusionsolar.wire\n"
        "bad = {'aiohttp', 'aiosqlite', 'sqlite3', 'apscheduler', 'structlog'} & set(sys.modules)\n"
        "print(sorted(bad))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"


def test_bodies_join_lists_and_send_epoch_milliseconds() -> None:
    at = datetime(2025, 3, 15, 12, tzinfo=AMSTERDAM)
    assert wire.plant_kpi_body(["NE=1", "NE=2"], at) == {
        "stationCodes": "NE=1,NE=2",
        "collectTime": 1742036400000,
    }
    assert wire.device_kpi_body(38, [10, 11], at) == {
        "devIds": "10,11",
        "devTypeId": 38,
        "collectTime": 1742036400000,
    }
    assert wire.stations_body(2) == {"pageNo": 2, "pageSize": 100}
    with pytest.raises(ValueError, match="aware"):
        wire.epoch_ms(datetime(2025, 3, 15, 12))  # noqa: DTZ001


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (_body(success=True, failCode=0, data=[1]), [1]),
        (_body(success=True, data={"list": []}), {"list": []}),
        (_body(success=True, failCode=0, data="text"), "text"),
        (_body(success=True, failCode=0, data=7), 7),
        (_body(success=True, failCode=0, data=None, message="ok"), None),
        (_body(failCode="0", data=[]), []),
    ],
)
def test_unwrap_returns_data_of_any_shape(text: str, expected: object) -> None:
    assert wire.unwrap(200, text) == expected


@pytest.mark.parametrize(
    ("payload", "error", "fragment"),
    [
        (
            {"failCode": 305, "immediately": True, "message": "USER_MUST_RELOGIN"},
            SessionExpired,
            "305",
        ),
        (
            {
                "data": "ACCESS_FREQUENCY_IS_TOO_HIGH",
                "failCode": 407,
                "params": None,
                "success": False,
            },
            FusionSolarRateLimited,
            "ACCESS_FREQUENCY_IS_TOO_HIGH",
        ),
        ({"success": False, "failCode": 20618, "data": None}, DailyCapError, "20618"),
        ({"success": False, "failCode": 20400, "data": None}, FusionSolarLoginError, "20400"),
        ({"success": False, "failCode": 20003, "data": None}, FusionSolarLoginError, "expired"),
        ({"success": False, "failCode": 20004, "data": None}, FusionSolarRateLimited, "20004"),
        ({"success": False, "failCode": 20200, "data": None}, TransientError, "20200"),
        ({"success": False, "failCode": 30008, "data": None}, TransientError, "30008"),
        ({"success": False, "failCode": 20006, "data": None}, FusionSolarApiError, "devTypeId"),
        (
            {"success": False, "failCode": 401, "message": "Invalid access"},
            FusionSolarApiError,
            "401",
        ),
        ({"success": False, "data": 20007}, UnexpectedResponseError, "without failCode"),
    ],
)
def test_fail_codes_map_to_the_error_tree(
    payload: dict[str, object], error: type[Exception], fragment: str
) -> None:
    with pytest.raises(error, match=fragment):
        wire.unwrap(200, json.dumps(payload))


def test_fail_code_tables_are_disjoint_and_typed() -> None:
    assert not wire.RETRYABLE_CODES & wire.CREDENTIAL_CODES
    assert not wire.QUOTA_CODES & (wire.RETRYABLE_CODES | wire.CREDENTIAL_CODES)
    assert wire.FailCode(20618) is wire.FailCode.DAILY_CAP


def test_api_error_keeps_the_fail_code() -> None:
    with pytest.raises(FusionSolarApiError) as caught:
        wire.unwrap(200, _body(success=False, failCode=20026, data=None))
    assert caught.value.fail_code == 20026


def test_non_json_body_keeps_the_first_200_characters() -> None:
    page = "<html>" + "x" * 500 + "</html>"
    with pytest.raises(UnexpectedResponseError) as caught:
        wire.unwrap(200, page)
    assert caught.value.snippet == page[:200]
    assert isinstance(caught.value, TransientError)


def test_empty_body_on_a_data_call_is_unexpected() -> None:
    with pytest.raises(UnexpectedResponseError, match="empty"):
        wire.unwrap(200, "  ")


@pytest.mark.parametrize("status", [403, 429])
def test_platform_throttle_without_fail_code_waits_a_minute(status: int) -> None:
    body = _body(errorCode="49401021002", exceptionInfo="Request is rejected by api quotaControl.")
    with pytest.raises(PlatformThrottled) as caught:
        wire.unwrap(status, body)
    assert caught.value.retry_after >= 60


def test_server_errors_are_transient_and_other_statuses_are_not() -> None:
    with pytest.raises(UnexpectedResponseError):
        wire.unwrap(502, "<html>Bad Gateway</html>")
    with pytest.raises(UpstreamError) as caught:
        wire.unwrap(404, "<html>Not Found</html>")
    assert not isinstance(caught.value, TransientError)


def test_login_with_an_empty_body_is_a_credentials_error_without_the_secret() -> None:
    with pytest.raises(FusionSolarLoginError, match="'api-user'") as caught:
        wire.check_login(200, "", "api-user")
    assert caught.value.fail_code is None
    with pytest.raises(FusionSolarLoginError) as coded:
        wire.check_login(200, _body(success=False, failCode=20001, data=None), "api-user")
    assert coded.value.fail_code == 20001
    wire.check_login(200, _body(success=True, failCode=0, data=None), "api-user")


def test_token_prefers_the_header_and_falls_back_to_the_cookie() -> None:
    assert wire.token_from({"Xsrf-Token": "x-head"}, {"XSRF-TOKEN": "x-cookie"}) == "x-head"
    assert wire.token_from({"Content-Type": "json"}, {"XSRF-TOKEN": "x-cookie"}) == "x-cookie"
    assert wire.token_from({}, {}) is None


@pytest.mark.parametrize(
    ("value", "number", "raw"),
    [
        (17.98, Decimal("17.98"), "17.98"),
        (0.1, Decimal("0.1"), "0.1"),
        (5, Decimal("5"), "5"),
        (0, Decimal("0"), "0"),
        ("17543", Decimal("17543"), "17543"),
        (" 12.345 ", Decimal("12.345"), " 12.345 "),
        (None, None, None),
        ("N/A", None, "N/A"),
        ("", None, ""),
        ("abc", None, "abc"),
        ("NaN", None, "NaN"),
        (True, None, "true"),
    ],
)
def test_values_parse_to_decimal_or_none_never_zero(
    value: object, number: Decimal | None, raw: str | None
) -> None:
    assert wire.parse_value(value) == (number, raw)


def test_stations_page_in_kwp_and_legacy_list_in_mw() -> None:
    page = {
        "list": [
            {
                "plantCode": "NE=1",
                "plantName": "Roof",
                "capacity": 18,
                "gridConnectionDate": "2023-03-31T09:56:55+01:00",
                "latitude": "",
            }
        ],
        "pageCount": 3,
        "pageNo": 1,
        "pageSize": 100,
        "total": 201,
    }
    plants, pages = wire.parse_stations_page(page)
    assert pages == 3
    assert plants[0].code == "NE=1"
    assert plants[0].capacity_kwp == Decimal("18")
    assert plants[0].grid_connection_date == "2023-03-31T09:56:55+01:00"
    legacy = wire.parse_station_list(
        [{"stationCode": "NE=2", "stationName": "Home", "capacity": 0.009, "aidType": 1}]
    )
    assert legacy[0].capacity_kwp == Decimal("9.000")


def test_devices_keep_large_ids_and_missing_serials() -> None:
    rows = [
        {
            "id": 1000000035436846,
            "devTypeId": 1,
            "esnCode": "HV2240",
            "stationCode": "NE=1",
            "invType": "SUN2000-10KTL-M1",
            "devName": "Inverter-1",
        },
        {"id": -42, "devTypeId": 47, "esnCode": None, "stationCode": "NE=1", "invType": None},
    ]
    devices = wire.parse_devices(rows)
    assert devices[0] == Device(
        1000000035436846, "NE=1", 1, "Inverter-1", "HV2240", "SUN2000-10KTL-M1"
    )
    assert devices[1].esn is None
    assert not devices[1].is_inverter
    with pytest.raises(UnexpectedResponseError):
        wire.parse_devices([{"id": "1", "devTypeId": 1}])


def test_kpi_rows_keep_raw_text_and_bucket_start() -> None:
    data = [
        {
            "collectTime": 1761951600000,
            "stationCode": "NE=9",
            "dataItemMap": {"inverter_power": "17.98", "PVYield": None, "ongrid_power": "N/A"},
        }
    ]
    [row] = wire.parse_kpi_rows(data, "stationCode")
    assert row.bucket_start == datetime(2025, 10, 31, 23, tzinfo=UTC)
    assert row.local_date(AMSTERDAM) == date(2025, 11, 1)
    assert row.values == {"inverter_power": Decimal("17.98"), "PVYield": None, "ongrid_power": None}
    assert row.raw == {"inverter_power": "17.98", "PVYield": None, "ongrid_power": "N/A"}


def test_real_time_rows_take_now_and_dongles_are_empty() -> None:
    now = datetime(2025, 1, 2, 3, tzinfo=UTC)
    rows = wire.parse_kpi_rows([{"devId": 5, "dataItemMap": {}}], "devId", now)
    assert rows[0].bucket_start == now
    assert rows[0].values == {}
    with pytest.raises(UnexpectedResponseError):
        wire.parse_kpi_rows([{"devId": 5, "dataItemMap": {}}], "devId")


def test_device_batches_are_the_minimum_per_type() -> None:
    devices = [Device(i, "NE=1", 1) for i in range(150)] + [
        Device(1000 + i, "NE=2", 38) for i in range(100)
    ]
    batches = wire.device_batches([*devices, devices[0]])
    assert [(t, len(ids)) for t, ids in batches] == [(1, 100), (1, 50), (38, 100)]
    assert sum(len(ids) for _, ids in batches) == 250


def test_chunked_keeps_order() -> None:
    assert wire.chunked([1, 2, 3, 4, 5], 2) == [[1, 2], [3, 4], [5]]
    assert wire.chunked([], 100) == []
