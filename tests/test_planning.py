"""Due months, freezing, sync plans and readiness, as hand-derived tables.

Every expected instant below was worked out by hand from the zone's offset on that date:
Kiritimati +14, Pago Pago -11, Tokyo +9, Sao Paulo -3 (no DST since 2019), Amsterdam +1/+2
(DST 2025-03-30, 2025-10-26, 2027-03-28), New York -5/-4 (DST 2024-11-03, 2025-03-09,
2025-11-02).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from fusionbridge.core.due import (
    LedgerView,
    MonthRecord,
    describe_month,
    is_due,
    is_frozen,
    push_time,
)
from fusionbridge.core.health import readiness_failures
from fusionbridge.core.inverters import ResolvedInverter, Target
from fusionbridge.core.models import Month, ScheduleRules, SourceKind, SourceRef, SubmissionState
from fusionbridge.core.sync_plan import (
    DayValuesCall,
    MonthValuesCall,
    SyncPlan,
    collect_instant,
    daily_sync_needs,
    plan_sync,
    range_sync_needs,
)
from fusionbridge.settings import ScheduleSettings
from tests.zones import AMS, KIR, NY, PPG, SAO, TYO

DEFAULT = ScheduleSettings().rules()  # sync 06:30, push on the 3rd at 07:00, window 2

DEV = SourceRef(SourceKind.DEVICE, "11", "product_power")
PLANT = SourceRef(SourceKind.PLANT, "NE=22", "inverter_power")


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def m(text: str) -> Month:
    return Month.parse(text)


def schedule(**fields: object) -> ScheduleRules:
    return ScheduleSettings.model_validate(fields).rules()


def inverter(
    zone: ZoneInfo, source: SourceRef = DEV, rid: str = "RM-1", start: Month | None = None
) -> ResolvedInverter:
    return ResolvedInverter(Target(rid, zone, start), source, "inverters.0")


@pytest.mark.parametrize(
    ("zone", "month", "push_day", "push_at", "expected"),
    [
        (AMS, "2024-12", 3, "07:00", utc(2025, 1, 3, 6)),  # December is pushed in January
        (AMS, "2027-02", 28, "02:30", utc(2027, 3, 28, 1, 30)),  # skipped by DST: 03:30 CEST
        (AMS, "2027-02", 28, "03:30", utc(2027, 3, 28, 1, 30)),
        (AMS, "2025-09", 26, "02:30", utc(2025, 10, 26, 0, 30)),  # repeated: first, CEST
        (AMS, "2025-09", 26, "03:30", utc(2025, 10, 26, 2, 30)),
        (NY, "2025-02", 9, "02:30", utc(2025, 3, 9, 7, 30)),  # skipped: 03:30 EDT
        (NY, "2025-10", 2, "01:30", utc(2025, 11, 2, 5, 30)),  # repeated: first, EDT
        (KIR, "2024-12", 3, "07:00", utc(2025, 1, 2, 17)),
        (PPG, "2024-12", 3, "07:00", utc(2025, 1, 3, 18)),
        (TYO, "2024-01", 3, "07:00", utc(2024, 2, 2, 22)),
        (SAO, "2024-01", 1, "00:00", utc(2024, 2, 1, 3)),
    ],
)
def test_push_time(
    zone: ZoneInfo, month: str, push_day: int, push_at: str, expected: datetime
) -> None:
    rules = schedule(push_day=push_day, push_at=push_at)
    assert push_time(m(month), rules, zone) == expected


@pytest.mark.parametrize(
    ("zone", "month", "now", "start", "rules", "expected"),
    [
        (KIR, "2024-12", utc(2025, 1, 2, 16, 59), None, DEFAULT, False),
        (KIR, "2024-12", utc(2025, 1, 2, 17), None, DEFAULT, True),
        (PPG, "2024-12", utc(2025, 1, 2, 17), None, DEFAULT, False),
        (PPG, "2024-12", utc(2025, 1, 3, 17, 59, 59), None, DEFAULT, False),
        (PPG, "2024-12", utc(2025, 1, 3, 18), None, DEFAULT, True),
        (TYO, "2024-02", utc(2024, 3, 2, 21, 59), None, DEFAULT, False),  # leap February
        (TYO, "2024-02", utc(2024, 3, 2, 22), None, DEFAULT, True),
        (SAO, "2024-02", utc(2024, 3, 3, 9, 59), None, DEFAULT, False),
        (SAO, "2024-02", utc(2024, 3, 3, 10), None, DEFAULT, True),
        (NY, "2024-10", utc(2024, 11, 3, 11, 59), None, DEFAULT, False),  # fall-back Sunday
        (NY, "2024-10", utc(2024, 11, 3, 12), None, DEFAULT, True),
        (AMS, "2025-01", utc(2025, 1, 31, 22, 59), None, DEFAULT, False),  # current month
        (AMS, "2024-05", utc(2025, 1, 1), m("2024-06"), DEFAULT, False),  # before start_month
        (AMS, "2024-06", utc(2025, 1, 1), m("2024-06"), DEFAULT, True),
        (
            AMS,
            "2027-02",
            utc(2027, 3, 28, 1, 29),
            None,
            schedule(push_day=28, push_at="02:30"),
            False,
        ),
        (
            AMS,
            "2027-02",
            utc(2027, 3, 28, 1, 30),
            None,
            schedule(push_day=28, push_at="02:30"),
            True,
        ),
    ],
)
def test_is_due(
    zone: ZoneInfo,
    month: str,
    now: datetime,
    start: Month | None,
    rules: ScheduleRules,
    expected: bool,
) -> None:
    assert is_due(m(month), now, rules, Target("RM-1", zone, start)) is expected


ACCEPTED = MonthRecord(kwh=Decimal(1), state=SubmissionState.ACCEPTED, accepted_kwh=Decimal(1))


@pytest.mark.parametrize(
    ("window", "zone", "month", "now", "record", "expected"),
    [
        (2, AMS, "2025-04", utc(2025, 5, 10, 12), ACCEPTED, False),
        (2, AMS, "2025-03", utc(2025, 5, 10, 12), ACCEPTED, False),
        (2, AMS, "2025-02", utc(2025, 5, 10, 12), ACCEPTED, True),
        (2, AMS, "2024-11", utc(2025, 1, 15, 12), ACCEPTED, False),  # across the year boundary
        (2, AMS, "2024-10", utc(2025, 1, 15, 12), ACCEPTED, True),
        (2, KIR, "2025-02", utc(2025, 4, 30, 12), ACCEPTED, True),  # already May 1 there
        (2, PPG, "2025-02", utc(2025, 4, 30, 12), ACCEPTED, False),  # still April 30 there
        (0, AMS, "2025-04", utc(2025, 5, 10, 12), ACCEPTED, True),
        (2, AMS, "2024-01", utc(2025, 5, 10, 12), MonthRecord(kwh=Decimal(1)), False),
    ],
)
def test_is_frozen(
    window: int, zone: ZoneInfo, month: str, now: datetime, record: MonthRecord, expected: bool
) -> None:
    assert is_frozen(m(month), record, now, zone, window) is expected


@pytest.mark.parametrize(
    ("record", "month", "now", "state", "frozen", "drift"),
    [
        (MonthRecord(), "2025-02", utc(2025, 3, 10), SubmissionState.MISSING, False, None),
        (  # partial figure: fetched before Feb ended in Amsterdam (2025-02-28T23:00Z)
            MonthRecord(kwh=Decimal(5), fetched_at=utc(2025, 2, 28, 22, 59)),
            "2025-02",
            utc(2025, 3, 10),
            SubmissionState.FETCHED,
            False,
            None,
        ),
        (
            MonthRecord(kwh=Decimal(5), fetched_at=utc(2025, 2, 28, 23)),
            "2025-02",
            utc(2025, 3, 10),
            SubmissionState.DUE,
            False,
            None,
        ),
        (
            MonthRecord(kwh=Decimal(5), fetched_at=utc(2025, 3, 1)),
            "2025-02",
            utc(2025, 3, 3, 5, 59),
            SubmissionState.FETCHED,
            False,
            None,
        ),
        (
            MonthRecord(kwh=Decimal(5), state=SubmissionState.SENDING, sent_kwh=Decimal(5)),
            "2025-02",
            utc(2025, 3, 10),
            SubmissionState.DUE,
            False,
            None,
        ),
        (
            MonthRecord(
                kwh=Decimal("41.0004"),
                state=SubmissionState.ACCEPTED,
                sent_kwh=Decimal(40),
                accepted_kwh=Decimal(40),
            ),
            "2025-01",
            utc(2025, 5, 10),
            SubmissionState.ACCEPTED,
            True,
            Decimal("1.000"),
        ),
        (
            MonthRecord(
                kwh=Decimal("41"),
                state=SubmissionState.ACCEPTED,
                sent_kwh=Decimal(40),
                accepted_kwh=Decimal(40),
            ),
            "2025-03",
            utc(2025, 5, 10),
            SubmissionState.ACCEPTED,
            False,
            None,
        ),
        (
            MonthRecord(kwh=Decimal(3), state=SubmissionState.REJECTED, sent_kwh=Decimal(3)),
            "2025-02",
            utc(2025, 3, 10),
            SubmissionState.REJECTED,
            False,
            None,
        ),
    ],
)
def test_describe_month(
    record: MonthRecord,
    month: str,
    now: datetime,
    state: SubmissionState,
    frozen: bool,
    drift: Decimal | None,
) -> None:
    view = describe_month(Target("RM-1", AMS), m(month), record, now, DEFAULT)
    assert (view.state, view.frozen, view.drift_kwh) == (state, frozen, drift)


# --- sync plans ----------------------------------------------------------------------------


def accepted_ledger(month: str) -> LedgerView:
    return {"RM-1": {m(month): ACCEPTED}}


@pytest.mark.parametrize(
    ("inverters", "ledger", "now", "last_success", "expected"),
    [
        pytest.param(
            [inverter(AMS)],
            {},
            utc(2025, 3, 10, 6, 30),
            None,
            SyncPlan(
                (
                    MonthValuesCall(
                        2025, utc(2025, 3, 10, 6, 30), (m("2025-02"), m("2025-03")), (DEV,)
                    ),
                ),
                (
                    DayValuesCall(m("2025-02"), utc(2025, 2, 15, 12), (DEV,)),
                    DayValuesCall(m("2025-03"), utc(2025, 3, 10, 6, 30), (DEV,)),
                ),
                (),
            ),
            id="empty-ledger",
        ),
        pytest.param(
            [inverter(AMS)],
            {},
            utc(2025, 1, 5, 5, 30),
            None,
            SyncPlan(
                (
                    MonthValuesCall(2024, utc(2024, 12, 15, 12), (m("2024-12"),), (DEV,)),
                    MonthValuesCall(2025, utc(2025, 1, 5, 5, 30), (m("2025-01"),), (DEV,)),
                ),
                (
                    DayValuesCall(m("2024-12"), utc(2024, 12, 15, 12), (DEV,)),
                    DayValuesCall(m("2025-01"), utc(2025, 1, 5, 5, 30), (DEV,)),
                ),
                (),
            ),
            id="year-boundary",
        ),
        pytest.param(
            [inverter(AMS)],
            accepted_ledger("2024-12"),
            utc(2025, 1, 5, 5, 30),
            None,
            SyncPlan(
                (MonthValuesCall(2025, utc(2025, 1, 5, 5, 30), (m("2025-01"),), (DEV,)),),
                (DayValuesCall(m("2025-01"), utc(2025, 1, 5, 5, 30), (DEV,)),),
                (),
            ),
            id="previous-accepted",
        ),
        pytest.param(
            [inverter(KIR, DEV, "K"), inverter(PPG, PLANT, "P")],
            {},
            utc(2024, 12, 31, 12),
            None,
            SyncPlan(
                (
                    MonthValuesCall(
                        2024, utc(2024, 12, 15, 12), (m("2024-11"), m("2024-12")), (DEV, PLANT)
                    ),
                    MonthValuesCall(2025, utc(2025, 1, 1, 12), (m("2025-01"),), (DEV,)),
                ),
                (
                    DayValuesCall(m("2024-11"), utc(2024, 11, 15, 12), (PLANT,)),
                    DayValuesCall(m("2024-12"), utc(2024, 12, 15, 12), (DEV, PLANT)),
                    DayValuesCall(m("2025-01"), utc(2025, 1, 1, 12), (DEV,)),
                ),
                (),
            ),
            id="zones-far-apart-at-new-year",
        ),
        pytest.param(
            [inverter(AMS, start=m("2025-03"))],
            {},
            utc(2025, 3, 10, 6, 30),
            None,
            SyncPlan(
                (MonthValuesCall(2025, utc(2025, 3, 10, 6, 30), (m("2025-03"),), (DEV,)),),
                (DayValuesCall(m("2025-03"), utc(2025, 3, 10, 6, 30), (DEV,)),),
                (),
            ),
            id="start-month",
        ),
        pytest.param(
            [inverter(AMS)],
            {"RM-1": {m("2024-10"): ACCEPTED, m("2024-11"): MonthRecord(kwh=Decimal(2))}},
            utc(2025, 2, 10, 5, 30),
            utc(2024, 11, 20, 5, 30),
            SyncPlan(
                (
                    MonthValuesCall(
                        2024, utc(2024, 12, 15, 12), (m("2024-11"), m("2024-12")), (DEV,)
                    ),
                    MonthValuesCall(
                        2025, utc(2025, 2, 10, 5, 30), (m("2025-01"), m("2025-02")), (DEV,)
                    ),
                ),
                (
                    DayValuesCall(m("2025-01"), utc(2025, 1, 15, 12), (DEV,)),
                    DayValuesCall(m("2025-02"), utc(2025, 2, 10, 5, 30), (DEV,)),
                ),
                (),
            ),
            id="three-month-outage",
        ),
    ],
)
def test_daily_sync_plan(
    inverters: list[ResolvedInverter],
    ledger: LedgerView,
    now: datetime,
    last_success: datetime | None,
    expected: SyncPlan,
) -> None:
    assert plan_sync(daily_sync_needs(inverters, ledger, now, last_success), now) == expected


MAR_TO_DEC_2024 = tuple(Month(2024, n) for n in range(3, 13))


@pytest.mark.parametrize(
    ("first", "last", "all_days", "now", "expected"),
    [
        pytest.param(
            None,
            None,
            False,
            utc(2025, 3, 10, 6, 30),
            SyncPlan(
                (
                    MonthValuesCall(
                        2025, utc(2025, 3, 10, 6, 30), (m("2025-02"), m("2025-03")), (DEV,)
                    ),
                ),
                (
                    DayValuesCall(m("2025-02"), utc(2025, 2, 15, 12), (DEV,)),
                    DayValuesCall(m("2025-03"), utc(2025, 3, 10, 6, 30), (DEV,)),
                ),
                (),
            ),
            id="default-range",
        ),
        pytest.param(
            "2025-02",
            "2025-06",
            False,
            utc(2025, 3, 10, 6, 30),
            SyncPlan(
                (
                    MonthValuesCall(
                        2025, utc(2025, 3, 10, 6, 30), (m("2025-02"), m("2025-03")), (DEV,)
                    ),
                ),
                (
                    DayValuesCall(m("2025-02"), utc(2025, 2, 15, 12), (DEV,)),
                    DayValuesCall(m("2025-03"), utc(2025, 3, 10, 6, 30), (DEV,)),
                ),
                (),
            ),
            id="future-months-dropped",
        ),
        pytest.param(  # 365 days before 2025-03-20T06:00Z, plus a day: 2024-03-21T06:00Z
            "2024-01",
            "2024-12",
            False,
            utc(2025, 3, 20, 6),
            SyncPlan(
                (MonthValuesCall(2024, utc(2024, 12, 15, 12), MAR_TO_DEC_2024, (DEV,)),),
                (),
                (m("2024-01"), m("2024-02")),
            ),
            id="365-days-partly-old-year",
        ),
        pytest.param(
            "2024-02",
            "2025-03",
            False,
            utc(2025, 3, 20, 6),
            SyncPlan(
                (
                    MonthValuesCall(2024, utc(2024, 12, 15, 12), MAR_TO_DEC_2024, (DEV,)),
                    MonthValuesCall(
                        2025,
                        utc(2025, 3, 15, 12),
                        (m("2025-01"), m("2025-02"), m("2025-03")),
                        (DEV,),
                    ),
                ),
                (
                    DayValuesCall(m("2025-02"), utc(2025, 2, 15, 12), (DEV,)),
                    DayValuesCall(m("2025-03"), utc(2025, 3, 15, 12), (DEV,)),
                ),
                (m("2024-02"),),
            ),
            id="two-years-days-only-recent",
        ),
        pytest.param(
            "2024-03",
            "2024-03",
            False,
            utc(2025, 3, 20, 6),
            SyncPlan(
                (MonthValuesCall(2024, utc(2024, 3, 21, 6), (m("2024-03"),), (DEV,)),), (), ()
            ),
            id="365-days-newest-month-partly-old",
        ),
        pytest.param(
            "2023-01",
            "2023-12",
            True,
            utc(2025, 3, 20, 6),
            SyncPlan((), (), tuple(Month(2023, n) for n in range(1, 13))),
            id="365-days-all-unreachable",
        ),
    ],
)
def test_range_sync_plan(
    first: str | None, last: str | None, all_days: bool, now: datetime, expected: SyncPlan
) -> None:
    needs = range_sync_needs(
        [inverter(AMS)],
        now,
        m(first) if first else None,
        m(last) if last else None,
        all_days=all_days,
    )
    assert plan_sync(needs, now) == expected


def test_days_flag_fetches_every_reachable_month() -> None:
    now = utc(2025, 3, 20, 6)
    needs = range_sync_needs([inverter(AMS)], now, m("2024-01"), m("2024-12"), all_days=True)
    plan = plan_sync(needs, now)
    assert [call.month for call in plan.day_calls] == list(MAR_TO_DEC_2024)
    assert plan.day_calls[0].collect_at == utc(2024, 3, 21, 6)
    assert plan.day_calls[1].collect_at == utc(2024, 4, 15, 12)
    assert plan.unreachable == (m("2024-01"), m("2024-02"))


@pytest.mark.parametrize(
    ("month", "now", "expected"),
    [
        ("2025-03", utc(2025, 3, 20, 6), utc(2025, 3, 15, 12)),
        ("2025-03", utc(2025, 3, 10, 6, 30), utc(2025, 3, 10, 6, 30)),
        ("2025-03", utc(2025, 2, 28, 20), utc(2025, 3, 1, 12)),  # March already in Kiritimati
        ("2024-03", utc(2025, 3, 20, 6, 17, 30), utc(2024, 3, 21, 7)),  # next whole hour
        ("2024-03", utc(2025, 3, 30, 9), utc(2024, 3, 31, 9)),  # last safe hour
        ("2024-03", utc(2025, 3, 31), None),  # 2024-04-01T00:00Z is past 2024-03-31T10:00Z
        ("2024-02", utc(2025, 3, 20, 6), None),
    ],
)
def test_collect_instant(month: str, now: datetime, expected: datetime | None) -> None:
    assert collect_instant(m(month), now) == expected


@pytest.mark.parametrize("offset", range(-12, 15))
def test_planned_instants_fall_in_their_month_in_every_zone(offset: int) -> None:
    zone = ZoneInfo(f"Etc/GMT{-offset:+d}")  # POSIX sign: Etc/GMT-14 is UTC+14
    now = utc(2024, 12, 31, 12)
    needs = range_sync_needs([inverter(AMS)], now, m("2024-01"), m("2024-12"), all_days=True)
    plan = plan_sync(needs, now)
    assert len(plan.day_calls) == 12
    for call in plan.day_calls:
        assert Month.containing(call.collect_at, zone) == call.month
    assert Month.containing(plan.month_calls[0].collect_at, zone).year == 2024


# --- readiness -------------------------------------------------------------------------------

NOW = utc(2025, 3, 10, 12)


@pytest.mark.parametrize(
    ("last_sync", "credential_error", "ledger_ok", "scheduler_ok", "failing"),
    [
        (utc(2025, 3, 10, 5, 30), None, True, True, []),
        (NOW - timedelta(days=2), None, True, True, []),
        (NOW - timedelta(days=2, seconds=1), None, True, True, ["sync"]),
        (None, None, True, True, ["sync"]),
        (utc(2025, 3, 10, 5, 30), "FusionSolar refused the login", True, True, ["credentials"]),
        (utc(2025, 3, 10, 5, 30), None, False, False, ["ledger", "scheduler"]),
    ],
)
def test_readiness(
    last_sync: datetime | None,
    credential_error: str | None,
    ledger_ok: bool,
    scheduler_ok: bool,
    failing: list[str],
) -> None:
    failures = readiness_failures(
        NOW,
        last_sync_success=last_sync,
        credential_error=credential_error,
        ledger_ok=ledger_ok,
        scheduler_ok=scheduler_ok,
    )
    assert [f.name for f in failures] == failing
    assert all(f.detail for f in failures)


def test_daily_sync_rechecks_the_correction_window_it_already_holds() -> None:
    # 10 March 2025 in Amsterdam, window 2: January and February are closed but correctable.
    # The ledger holds an accepted January and December; December is outside the window, and
    # October was never fetched: neither is asked for. January rides on the 2025 year call.
    ledger = {"RM-1": {m("2024-12"): ACCEPTED, m("2025-01"): ACCEPTED, m("2025-02"): ACCEPTED}}
    now = utc(2025, 3, 10, 6, 30)
    needs = daily_sync_needs([inverter(AMS)], ledger, now, None, recheck_months=2)
    assert plan_sync(needs, now) == SyncPlan(
        (
            MonthValuesCall(
                2025, utc(2025, 3, 10, 6, 30), (m("2025-01"), m("2025-02"), m("2025-03")), (DEV,)
            ),
        ),
        (DayValuesCall(m("2025-03"), utc(2025, 3, 10, 6, 30), (DEV,)),),
        (),
    )
    # Without the window only the current month is read (February is accepted).
    plain = plan_sync(daily_sync_needs([inverter(AMS)], ledger, now, None), now)
    assert plain.month_calls[0].months == (m("2025-03"),)


def test_recheck_across_new_year_costs_one_call_for_the_old_year() -> None:
    ledger = {"RM-1": {m("2024-12"): ACCEPTED}}
    now = utc(2025, 1, 20, 5, 30)
    needs = daily_sync_needs([inverter(AMS)], ledger, now, None, recheck_months=2)
    plan = plan_sync(needs, now)
    assert [(c.year, c.months) for c in plan.month_calls] == [
        (2024, (m("2024-12"),)),
        (2025, (m("2025-01"),)),
    ]
