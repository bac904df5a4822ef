"""REDEX payloads and answers, pure: exact JSON, error mapping, Retry-After, token and status."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from fusionbridge.core.models import round_kwh
from fusionbridge.core.outcomes import Failed, Rejected, Sent, Unconfirmed
from fusionbridge.core.push_plan import PushItem
from fusionbridge.errors import UnexpectedResponseError
from fusionbridge.redex import wire

NOW = datetime(2025, 3, 3, 7, 0, 0, tzinfo=UTC)


def item(remote_inv_id: str, year: int, months: dict[int, Decimal | None]) -> PushItem:
    """A planned item: the plan rounds once, so these values are rounded here as it would."""
    rounded = {n: round_kwh(v) for n, v in months.items() if v is not None}
    return PushItem(remote_inv_id, year, tuple(rounded.get(n) for n in range(1, 13)), ())


def test_payload_has_all_twelve_keys_with_exact_half_up_decimals() -> None:
    items = [
        item(
            "RM1-INV02",
            2024,
            {1: Decimal("321.111"), 2: Decimal("0.0005"), 7: Decimal("2.0004"), 12: Decimal("7")},
        )
    ]

    text = wire.encode(items)

    expected = (
        '[\n{"RemoteInvId": "RM1-INV02", "Data": {"Year": 2024, "PeriodProductionPerMonthInKWh": '
        '{"Jan": 321.111, "Feb": 0.001, "Mar": null, "Apr": null, "May": null, "Jun": null, '
        '"Jul": 2.000, "Aug": null, "Sep": null, "Oct": null, "Nov": null, "Dec": 7.000}}}\n]'
    )
    assert text == expected
    months = json.loads(text, parse_float=Decimal)[0]["Data"]["PeriodProductionPerMonthInKWh"]
    assert " ".join(months) == "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec"


@pytest.mark.parametrize(
    ("value", "written"),
    [
        ("0.0005", "0.001"),
        ("0.0004999", "0.000"),
        ("2.5555", "2.556"),
        ("1234567.8915", "1234567.892"),
        ("1E+3", "1000.000"),
        ("0.1", "0.100"),
        ("99999999.9995", "100000000.000"),
    ],
)
def test_values_are_written_without_float_drift(value: str, written: str) -> None:
    text = wire.encode([item("X", 2025, {3: Decimal(value)})])

    assert f'"Mar": {written},' in text


def test_encoded_values_read_back_as_the_decimals_and_nulls_planned() -> None:
    (entry,) = json.loads(
        wire.encode([item("X", 2025, {1: Decimal("1.23456"), 2: None})]), parse_float=Decimal
    )

    months = entry["Data"]["PeriodProductionPerMonthInKWh"]
    assert months["Jan"] == Decimal("1.235")
    assert months["Feb"] is None
    assert months["Dec"] is None
    assert entry["Data"]["Year"] == 2025


def test_one_item_per_inverter_year() -> None:
    twice = [item("X", 2025, {}), item("Y", 2025, {}), item("X", 2025, {})]

    with pytest.raises(ValueError, match="X 2025 appears twice"):
        wire.encode(twice)
    assert len(json.loads(wire.encode([item("X", 2024, {}), item("X", 2025, {})]))) == 2


def test_batches_keep_order() -> None:
    items = [item(f"I{n}", 2025, {}) for n in range(7)]

    assert [[i.remote_inv_id for i in b] for b in wire.batches(items, 3)] == [
        ["I0", "I1", "I2"],
        ["I3", "I4", "I5"],
        ["I6"],
    ]


def test_created_gives_the_process_id() -> None:
    body = {"StatusCode": 201, "Errors": None, "Data": {"ProcessId": 4711}, "Message": "Created"}

    assert wire.monthly_answer(201, body) == Sent(4711)
    assert wire.monthly_answer(201, {"Data": {"ProcessId": "4712"}}) == Sent(4712)


@pytest.mark.parametrize(
    "body", [{"Data": None}, None, {"Data": {"ProcessId": "x"}}, {"Data": {"ProcessId": True}}]
)
def test_created_without_a_usable_process_id_fails_with_the_reason(body: Any) -> None:
    assert wire.monthly_answer(201, body) == Failed(
        "REDEX answered HTTP 201 without a usable ProcessId"
    )


def test_400_keeps_the_message() -> None:
    body = {"Data": None, "Errors": None, "StatusCode": 400, "Message": "Invalid request body"}

    assert wire.monthly_answer(400, body) == Rejected("Invalid request body")
    assert wire.monthly_answer(403, None) == Rejected("HTTP 403")


def test_500_may_have_taken_effect() -> None:
    assert isinstance(wire.monthly_answer(500, None), Unconfirmed)


def test_422_maps_keys_to_item_indexes() -> None:
    body = {
        "StatusCode": 422,
        "Message": "Validation failed",
        "Errors": [
            {
                "Key": "[3].RemoteInvId",
                "Message": "must send {Daily} generation data",
                "Messages": ["must send {Daily} generation data"],
            },
            {"Key": "[0].Data.PeriodProductionPerMonthInKWh.Jan", "Messages": ["too big", "odd"]},
            {"Key": "[3].Data.Year", "Message": "future year"},
            {"Key": "RemoteInvId", "Message": "no index: ignored"},
            "not an object",
        ],
    }

    reply = wire.monthly_answer(422, body)

    assert reply == wire.Unprocessable(
        {3: "must send {Daily} generation data; future year", 0: "too big; odd"},
        "Validation failed",
    )


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("60", 60.0),
        (" 2.5 ", 2.5),
        ("-3", 0.0),
        ("Mon, 03 Mar 2025 07:00:30 GMT", 30.0),
        ("Mon, 03 Mar 2025 06:59:00 GMT", 0.0),
        ("soon", 5.0),
        ("inf", 5.0),
        ("", 5.0),
        (None, 5.0),
    ],
)
def test_retry_after_as_seconds_or_http_date(header: str | None, seconds: float) -> None:
    assert wire.retry_after_s(header, now=NOW, default=5.0) == seconds


def test_token_answer_and_its_string_lifetime() -> None:
    body = {
        "Data": {
            "AccessToken": "a-secret",
            "RefreshToken": "r-secret",
            "ExpiresIn": "3600",
            "TokenType": "Bearer",
        }
    }

    grant = wire.parse_token(body)

    assert (grant.access_token, grant.refresh_token, grant.expires_in_s) == (
        "a-secret",
        "r-secret",
        3600.0,
    )
    assert "secret" not in repr(grant)


@pytest.mark.parametrize(
    "body",
    [
        None,
        {"Data": None},
        {"Data": {"AccessToken": ""}},
        {"Data": {"AccessToken": "a", "ExpiresIn": "x"}},
    ],
)
def test_bad_token_answers_are_unexpected(body: Any) -> None:
    with pytest.raises(UnexpectedResponseError):
        wire.parse_token(body)


@pytest.mark.parametrize(
    ("status", "final"),
    [("New", False), ("Processing", False), ("Success", True), ("Failed", True), ("Odd", False)],
)
def test_status_answer(status: str, final: bool) -> None:
    body = {"Data": {"ProcessId": 9, "Status": status, "ProcessingType": "CreateMonthlyData"}}

    parsed = wire.parse_status(body, 9)

    assert (parsed.status, parsed.is_final, parsed.processing_type) == (
        status,
        final,
        "CreateMonthlyData",
    )


def test_wire_imports_no_io_library() -> None:
    code = (
        "import sys, fusionbridge.redex.wire\n"
        "banned = {'aiohttp', 'aiosqlite', 'sqlite3', 'apscheduler', 'structlog'}\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in banned))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )

    assert result.stdout.strip() == "[]"
