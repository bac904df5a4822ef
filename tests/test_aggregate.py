"""KPI rows → readings, bucket alignment, and the month cross-checks, as hand-derived tables."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from fusionbridge.core.models import EnergyReading, KpiRow, Month, SourceKind, SourceRef
from fusionbridge.core.readings import (
    Finding,
    FindingKind,
    check_month,
    day_readings,
    describe_days,
    hours_in,
    month_readings,
)
from tests.zones import AMS, KIR, NY, PPG, SAO, TYO

DEV = SourceRef(SourceKind.DEVICE, "1001", "product_power")
PLANT = SourceRef(SourceKind.PLANT, "NE=7", "inverter_power")
FETCHED = datetime(2025, 3, 10, 6, tzinfo=UTC)
D = Decimal


def utc(year: int, month: int, day: int, hour: int = 0) -> datetime:
    return datetime(year, month, day, hour, tzinfo=UTC)


def row(
    start: datetime, value: str | None, *, obj: str = "1001", key: str = "product_power"
) -> KpiRow:
    parsed = None if value in (None, "N/A") else D(value)
    return KpiRow(obj, start, {key: parsed, "installed_capacity": D(10)}, {key: value})


def reading(period: date | Month, kwh: str, source: SourceRef = DEV) -> EnergyReading:
    return EnergyReading(source, period, D(kwh), kwh, source.metric, FETCHED)


@pytest.mark.parametrize(
    ("zone", "bucket", "month"),
    [
        (TYO, utc(2024, 1, 31, 15), Month(2024, 2)),  # 00:00 +09
        (AMS, utc(2023, 12, 31, 23), Month(2024, 1)),  # 00:00 CET
        (AMS, utc(2024, 6, 30, 22), Month(2024, 7)),  # 00:00 CEST
        (KIR, utc(2024, 12, 31, 10), Month(2025, 1)),  # 00:00 +14
        (PPG, utc(2025, 1, 1, 11), Month(2025, 1)),  # 00:00 -11
        (SAO, utc(2024, 3, 1, 3), Month(2024, 3)),  # 00:00 -03
        (NY, utc(2024, 11, 1, 4), Month(2024, 11)),  # 00:00 EDT
        (NY, utc(2024, 12, 1, 5), Month(2024, 12)),  # 00:00 EST
    ],
)
def test_month_bucket_maps_to_its_local_month(
    zone: ZoneInfo, bucket: datetime, month: Month
) -> None:
    result = month_readings([row(bucket, "123.45")], DEV, zone, FETCHED)
    assert result.readings == (reading(month, "123.45"),)
    assert result.findings == ()


@pytest.mark.parametrize(
    ("zone", "bucket", "day"),
    [
        (SAO, utc(2024, 3, 10, 3), date(2024, 3, 10)),
        (NY, utc(2024, 3, 10, 5), date(2024, 3, 10)),  # spring-forward Sunday starts in EST
        (NY, utc(2024, 3, 11, 4), date(2024, 3, 11)),  # the next day starts in EDT
        (AMS, utc(2025, 10, 25, 22), date(2025, 10, 26)),  # 25-hour day starts in CEST
        (AMS, utc(2025, 10, 26, 23), date(2025, 10, 27)),
        (KIR, utc(2024, 2, 28, 10), date(2024, 2, 29)),  # leap day at +14
        (PPG, utc(2024, 2, 29, 11), date(2024, 2, 29)),  # leap day at -11
    ],
)
def test_day_bucket_maps_to_its_local_date(zone: ZoneInfo, bucket: datetime, day: date) -> None:
    result = day_readings([row(bucket, "17.98")], DEV, zone, FETCHED)
    assert result.readings == (reading(day, "17.98"),)
    assert result.findings == ()


def test_missing_values_make_no_reading_and_other_objects_are_ignored() -> None:
    rows = [
        row(utc(2024, 3, 1, 3), None),
        row(utc(2024, 3, 2, 3), "N/A"),
        row(utc(2024, 3, 3, 3), "0"),
        row(utc(2024, 3, 4, 3), "5.5", obj="9999"),
        KpiRow("1001", utc(2024, 3, 5, 3), {"installed_capacity": D(10)}, {}),
    ]
    result = day_readings(rows, DEV, SAO, FETCHED)
    assert result.readings == (reading(date(2024, 3, 3), "0"),)
    assert result.findings == ()


def test_plant_metric_is_the_key_recorded() -> None:
    source = SourceRef(SourceKind.PLANT, "NE=7", "PVYield")
    rows = [row(utc(2024, 2, 29, 23), "17.980", obj="NE=7", key="PVYield")]
    [only] = month_readings(rows, source, AMS, FETCHED).readings
    assert (only.period, only.kwh, only.raw, only.key) == (
        Month(2024, 3),
        D("17.98"),
        "17.980",
        "PVYield",
    )


def test_bucket_off_local_midnight_is_reported_but_kept() -> None:
    # A plant kept at a fixed +01:00 in FusionSolar starts July at 2024-06-30T23:00Z: 01:00 CEST.
    result = month_readings([row(utc(2024, 6, 30, 23), "900")], DEV, AMS, FETCHED)
    assert result.readings == (reading(Month(2024, 7), "900"),)
    [finding] = result.findings
    assert (finding.kind, finding.period) == (FindingKind.OFF_MIDNIGHT, Month(2024, 7))
    assert finding.message == (
        "bucket starts at 2024-06-30T23:00:00+00:00, +1:00:00 from local midnight of "
        "2024-07-01 in Europe/Amsterdam: is the plant's zone the configured one?"
    )


def test_bucket_just_before_local_midnight_belongs_to_the_next_day() -> None:
    # A plant kept at +03:00 starts July at 2024-06-30T21:00Z: 23:00 CEST on June 30.
    result = month_readings([row(utc(2024, 6, 30, 21), "900")], DEV, AMS, FETCHED)
    assert result.readings == (reading(Month(2024, 7), "900"),)
    assert [(f.kind, f.period) for f in result.findings] == [
        (FindingKind.OFF_MIDNIGHT, Month(2024, 7))
    ]
    assert "-1:00:00 from local midnight of 2024-07-01" in result.findings[0].message


def test_month_bucket_read_in_a_far_zone_is_left_out() -> None:
    # Kiritimati's January starts 2024-12-31T10:00Z: 23:00 on Dec 30 in Pago Pago, nearest
    # midnight Dec 31, which is no month start.
    result = month_readings([row(utc(2024, 12, 31, 10), "5")], DEV, PPG, FETCHED)
    assert result.readings == ()
    assert [f.kind for f in result.findings] == [
        FindingKind.OFF_MIDNIGHT,
        FindingKind.NOT_MONTH_START,
    ]
    assert result.findings[1].period == Month(2024, 12)


def test_conflicting_buckets_are_dropped_and_duplicates_merged() -> None:
    rows = [
        row(utc(2024, 3, 1, 3), "1.5"),
        row(utc(2024, 3, 1, 3), "1.6"),
        row(utc(2024, 3, 2, 3), "2"),
        row(utc(2024, 3, 2, 3), "2.000"),
    ]
    result = day_readings(rows, DEV, SAO, FETCHED)
    assert [(r.period, r.kwh) for r in result.readings] == [(date(2024, 3, 2), D(2))]
    assert [(f.kind, f.period) for f in result.findings] == [
        (FindingKind.CONFLICT, date(2024, 3, 1))
    ]


@pytest.mark.parametrize(
    ("first", "following", "zone", "hours"),
    [
        (date(2025, 1, 1), date(2025, 2, 1), AMS, D(744)),
        (date(2025, 3, 1), date(2025, 4, 1), AMS, D(743)),
        (date(2025, 10, 1), date(2025, 11, 1), AMS, D(745)),
        (date(2024, 2, 1), date(2024, 3, 1), TYO, D(696)),
        (date(2025, 3, 30), date(2025, 3, 31), AMS, D(23)),
        (date(2024, 11, 3), date(2024, 11, 4), NY, D(25)),
    ],
)
def test_hours_in(first: date, following: date, zone: ZoneInfo, hours: Decimal) -> None:
    assert hours_in(first, following, zone) == hours


FEB_2023 = {date(2023, 2, d): D("1.5") for d in range(1, 29)}  # 28 days, 42.0 kWh
LEAP_FEB = {date(2024, 2, d): D(1) for d in range(1, 30)}  # 29 days, 29 kWh
AFTER = utc(2025, 1, 1)


def kinds(findings: list[Finding]) -> list[FindingKind]:
    return [f.kind for f in findings]


@pytest.mark.parametrize(
    ("month", "month_kwh", "days", "now", "capacity", "expected"),
    [
        (Month(2023, 2), D("42.0"), FEB_2023, AFTER, None, []),
        (Month(2023, 2), D("42.5"), FEB_2023, AFTER, None, [FindingKind.DAYS_MISMATCH]),
        (Month(2024, 2), D(29), LEAP_FEB, AFTER, None, []),
        (
            Month(2024, 2),
            D(29),
            {d: v for d, v in LEAP_FEB.items() if d.day != 29},
            AFTER,
            None,
            [FindingKind.MISSING_DAYS],
        ),
        (  # open month (February 2024 is current in Amsterdam): gaps are not judged yet
            Month(2024, 2),
            D(3),
            {date(2024, 2, 1): D(3)},
            utc(2024, 2, 20),
            None,
            [],
        ),
        (Month(2023, 2), D("42.0"), None, AFTER, None, []),  # no day values fetched
        (Month(2025, 1), D(7440), None, AFTER, D(10), []),  # 10 kWp x 744 h
        (Month(2025, 1), D("7440.001"), None, AFTER, D(10), [FindingKind.ABOVE_CAPACITY]),
        (Month(2025, 3), D("7430.5"), None, utc(2025, 5, 1), D(10), [FindingKind.ABOVE_CAPACITY]),
        (Month(2025, 10), D(7450), None, utc(2025, 12, 1), D(10), []),  # 745 h
        (
            Month(2025, 3),
            None,
            {date(2025, 3, 30): D("230.001"), date(2025, 3, 31): D(240)},
            utc(2025, 3, 31, 12),
            D(10),
            [FindingKind.ABOVE_CAPACITY],  # the 23-hour day allows 230 kWh, the next 240
        ),
        (Month(2023, 2), D("-1"), None, AFTER, None, [FindingKind.NEGATIVE]),
        (
            Month(2023, 2),
            D("40.5"),
            {**FEB_2023, date(2023, 2, 1): D("0.0")},
            AFTER,
            None,
            [],  # 42.0 - 1.5 = 40.5
        ),
        (
            Month(2023, 2),
            D("-3.0"),
            {**FEB_2023, date(2023, 2, 1): D("-43.5")},
            AFTER,
            None,
            [FindingKind.NEGATIVE, FindingKind.NEGATIVE],  # month, then day 1; 42 - 1.5 - 43.5 = -3
        ),
    ],
)
def test_check_month(
    month: Month,
    month_kwh: Decimal | None,
    days: dict[date, Decimal] | None,
    now: datetime,
    capacity: Decimal | None,
    expected: list[FindingKind],
) -> None:
    findings = check_month(
        DEV, month, AMS, now, month_kwh=month_kwh, days=days, capacity_kwp=capacity
    )
    assert kinds(findings) == expected
    assert all(f.source == DEV for f in findings)


def test_check_messages_name_the_numbers() -> None:
    [mismatch] = check_month(DEV, Month(2023, 2), AMS, AFTER, month_kwh=D("42.5"), days=FEB_2023)
    assert mismatch.message == (
        "month value 42.5 kWh differs from the sum of its days 42.0 kWh by 0.5 kWh"
    )
    gaps = {d: v for d, v in FEB_2023.items() if d.day not in (2, 3, 4, 9)}
    [missing] = check_month(DEV, Month(2023, 2), AMS, AFTER, month_kwh=D(1), days=gaps)
    assert missing.message == "4 of 28 days have no value: 2023-02-02..2023-02-04, 2023-02-09"
    [above] = check_month(DEV, Month(2025, 1), AMS, AFTER, month_kwh=D(7441), capacity_kwp=D(10))
    assert above.message == "7441 kWh exceeds 10 kWp x 744 h = 7440 kWh"


def test_tolerance_absorbs_rounding_between_day_and_month_values() -> None:
    findings = check_month(
        DEV, Month(2023, 2), AMS, AFTER, month_kwh=D("42.005"), days=FEB_2023, tolerance=D("0.01")
    )
    assert findings == []


def test_days_of_other_months_are_ignored() -> None:
    days = {**FEB_2023, date(2023, 3, 1): D(100)}
    assert check_month(DEV, Month(2023, 2), AMS, AFTER, month_kwh=D("42.0"), days=days) == []


@pytest.mark.parametrize(
    ("days", "text"),
    [
        ([date(2024, 3, 1)], "2024-03-01"),
        (
            [date(2024, 3, 2), date(2024, 3, 1), date(2024, 3, 4)],
            "2024-03-01..2024-03-02, 2024-03-04",
        ),
        ([date(2024, 2, 28), date(2024, 2, 29), date(2024, 3, 1)], "2024-02-28..2024-03-01"),
        ([], ""),
    ],
)
def test_describe_days(days: list[date], text: str) -> None:
    assert describe_days(days) == text
