"""Pure domain values: months and kWh rounding."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from fusionbridge.core.models import Month, month_range, round_kwh


@pytest.mark.parametrize(
    ("start", "shift", "expected"),
    [
        (Month(2024, 12), 1, Month(2025, 1)),
        (Month(2025, 1), -1, Month(2024, 12)),
        (Month(2024, 3), -14, Month(2023, 1)),
        (Month(2024, 1), 0, Month(2024, 1)),
    ],
)
def test_shift_crosses_years(start: Month, shift: int, expected: Month) -> None:
    assert start.shift(shift) == expected


def test_days_of_leap_february() -> None:
    assert Month(2024, 2).last_day() == date(2024, 2, 29)
    assert len(Month(2023, 2).days()) == 28


def test_parse_and_format() -> None:
    assert str(Month.parse("2024-07")) == "2024-07"
    assert Month.parse("2024-07").key == "Jul"
    with pytest.raises(ValueError, match="YYYY-MM"):
        Month.parse("2024-7")


def test_month_of_an_instant_depends_on_zone() -> None:
    instant = datetime(2024, 12, 31, 20, 0, tzinfo=UTC)
    assert Month.containing(instant, ZoneInfo("Asia/Tokyo")) == Month(2025, 1)
    assert Month.containing(instant, ZoneInfo("America/Sao_Paulo")) == Month(2024, 12)


def test_range_and_rounding() -> None:
    assert month_range(Month(2024, 11), Month(2025, 2))[-1] == Month(2025, 2)
    assert len(month_range(Month(2024, 11), Month(2025, 2))) == 4
    assert month_range(Month(2025, 2), Month(2024, 11)) == []
    assert round_kwh(Decimal("1.0005")) == Decimal("1.001")
    assert round_kwh(Decimal("2.4994")) == Decimal("2.499")
