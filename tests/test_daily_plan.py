"""The day planner as tables: due days, DST and year boundaries, totals, holds, request splits."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from fusionbridge.core.daily_plan import (
    DailyInverter,
    DayFacts,
    DayReason,
    InverterDays,
    day_hours,
    hold_reason,
    plan_inverter,
    split_requests,
)
from fusionbridge.core.inverters import Target
from fusionbridge.core.models import Month, SubmissionState

AMSTERDAM, SAO_PAULO, TOKYO = (
    ZoneInfo(z) for z in ("Europe/Amsterdam", "America/Sao_Paulo", "Asia/Tokyo")
)
FETCHED = datetime(2027, 1, 10, tzinfo=UTC)


def inverter(
    values: dict[date, str],
    *,
    zone: ZoneInfo = AMSTERDAM,
    records: dict[date, DayFacts] | None = None,
    anchor: date | None = None,
    opening: str | None = "1000.000",
    capacity: str | None = None,
    start: Month | None = None,
    fetched: datetime = FETCHED,
) -> DailyInverter:
    return DailyInverter(
        Target("RM-1", zone, start, daily=True),
        Decimal(capacity) if capacity else None,
        anchor or (min(values) if values else None),
        Decimal(opening) if opening else None,
        {day: (Decimal(v), fetched) for day, v in values.items()},
        records or {},
    )


def days(first: date, n: int) -> list[date]:
    return [first + timedelta(days=i) for i in range(n)]


@pytest.mark.parametrize(
    ("zone", "day", "hours"),
    [
        (AMSTERDAM, date(2026, 3, 29), 23),  # spring forward
        (AMSTERDAM, date(2026, 10, 25), 25),  # fall back
        (AMSTERDAM, date(2026, 10, 26), 24),
        (SAO_PAULO, date(2026, 10, 25), 24),  # no DST since 2019
        (TOKYO, date(2026, 12, 31), 24),
    ],
)
def test_a_day_has_the_hours_of_its_zone(zone: ZoneInfo, day: date, hours: int) -> None:
    assert day_hours(day, zone) == hours


def test_the_capacity_hold_counts_the_25_hours_of_a_dst_day() -> None:
    autumn = date(2026, 10, 25)
    assert hold_reason(Decimal("245.000"), autumn, AMSTERDAM, Decimal(10)) is None  # 25 h
    assert hold_reason(Decimal("245.000"), autumn + timedelta(days=1), AMSTERDAM, Decimal(10))
    assert hold_reason(Decimal("-0.001"), autumn, AMSTERDAM, None)
    assert hold_reason(Decimal("1e9"), autumn, AMSTERDAM, None) is None  # no capacity, no check


@pytest.mark.parametrize(
    ("zone", "now", "last_due"),
    [
        # 23:30 UTC on Dec 31 is already Jan 1 in Tokyo, still Dec 31 in São Paulo
        (TOKYO, datetime(2026, 12, 31, 23, 30, tzinfo=UTC), date(2026, 12, 31)),
        (SAO_PAULO, datetime(2026, 12, 31, 23, 30, tzinfo=UTC), date(2026, 12, 30)),
        (AMSTERDAM, datetime(2026, 12, 31, 23, 30, tzinfo=UTC), date(2026, 12, 31)),
        (SAO_PAULO, datetime(2027, 1, 1, 3, 0, tzinfo=UTC), date(2026, 12, 31)),
    ],
)
def test_a_day_is_due_once_it_ended_in_the_inverters_zone(
    zone: ZoneInfo, now: datetime, last_due: date
) -> None:
    values = dict.fromkeys(days(date(2026, 12, 29), 4), "10.000")
    plan = plan_inverter(inverter(values, zone=zone, fetched=now), now, 2)
    assert max(r.day for r in plan.send) == last_due


def test_totals_run_exactly_across_the_year_boundary_and_skip_missing_days() -> None:
    values = dict.fromkeys(days(date(2026, 12, 28), 8), "1.1115")  # half-up once: 1.112
    del values[date(2026, 12, 31)]  # FusionSolar had no value: not sent, not counted
    plan = plan_inverter(inverter(values, opening="500.000"), FETCHED, 2)
    sent = [(r.day, r.kwh, r.accumulated_kwh) for r in plan.send]
    assert [d for d, _, _ in sent] == sorted(values)
    assert all(k == Decimal("1.112") for _, k, _ in sent)
    assert sent[0][2] == Decimal("501.112")
    for (_, _, before), (_, kwh, after) in itertools.pairwise(sent):
        assert after == before + kwh
    assert all(r.accumulated_kwh.as_tuple().exponent == -3 for r in plan.send)


def test_days_before_the_anchor_run_the_chain_backwards_so_nothing_sent_moves() -> None:
    values = dict.fromkeys(days(date(2026, 11, 1), 10), "2.000")
    plan = plan_inverter(inverter(values, anchor=date(2026, 11, 6), opening="100.000"), FETCHED, 2)
    totals = {r.day: r.accumulated_kwh for r in plan.send}
    assert totals[date(2026, 11, 5)] == Decimal("100.000")
    assert totals[date(2026, 11, 6)] == Decimal("102.000")
    assert totals[date(2026, 11, 1)] == Decimal("92.000")


def _accepted(plan: InverterDays) -> dict[date, DayFacts]:
    return {
        r.day: DayFacts("accepted", r.kwh, r.accumulated_kwh, r.kwh, r.accumulated_kwh)
        for r in plan.send
    }


def test_a_changed_day_goes_out_with_every_later_day_and_no_earlier_one() -> None:
    values = dict.fromkeys(days(date(2026, 12, 1), 20), "3.000")
    first = plan_inverter(inverter(values), FETCHED, 2)
    records = _accepted(first)
    assert plan_inverter(inverter(values, records=records), FETCHED, 2).send == ()
    values[date(2026, 12, 15)] = "3.500"
    again = plan_inverter(inverter(values, records=records), FETCHED, 2)
    assert [r.day for r in again.send] == days(date(2026, 12, 15), 6)
    assert {
        r.day: r.accumulated_kwh - (records[r.day].accumulated_sent or 0) for r in again.send
    } == dict.fromkeys(days(date(2026, 12, 15), 6), Decimal("0.500"))
    assert again.send[0].kwh == Decimal("3.500")


def test_a_missing_day_that_appears_is_sent_with_the_later_ones() -> None:
    values = dict.fromkeys(days(date(2026, 12, 1), 10), "3.000")
    late = values.pop(date(2026, 12, 4))
    records = _accepted(plan_inverter(inverter(values), FETCHED, 2))
    values[date(2026, 12, 4)] = late
    again = plan_inverter(inverter(values, records=records), FETCHED, 2)
    assert [r.day for r in again.send] == days(date(2026, 12, 4), 7)


def test_frozen_days_keep_their_accepted_pair_and_show_drift() -> None:
    values = dict.fromkeys(days(date(2026, 9, 1), 5), "4.000")
    records = _accepted(plan_inverter(inverter(values), datetime(2026, 9, 10, tzinfo=UTC), 2))
    values[date(2026, 9, 2)] = "4.250"
    plan = plan_inverter(inverter(values, records=records), FETCHED, 2)
    assert plan.send == ()
    [drifting] = [line for line in plan.lines if line.drift_kwh is not None]
    assert (drifting.day, drifting.drift_kwh, drifting.frozen) == (
        date(2026, 9, 2),
        Decimal("0.250"),
        True,
    )
    forced = plan_inverter(inverter(values, records=records), FETCHED, 2, forced=Month(2026, 9))
    assert [r.day for r in forced.send][:2] == [date(2026, 9, 1), date(2026, 9, 2)]
    assert {r for r in (line.reason for line in forced.lines) if r} == {DayReason.FORCED}


def test_an_implausible_day_is_held_and_stops_nothing_else() -> None:
    values = dict.fromkeys(days(date(2026, 12, 1), 5), "50.000")
    values[date(2026, 12, 3)] = "500.000"  # 10 kW cannot make 500 kWh in 24 hours
    plan = plan_inverter(inverter(values, capacity="10"), FETCHED, 2)
    assert [r.day for r in plan.send] == [d for d in sorted(values) if d != date(2026, 12, 3)]
    [held] = [line for line in plan.lines if line.state is SubmissionState.HELD]
    assert held.day == date(2026, 12, 3)
    assert "10 kW" in (held.note or "")


def test_without_a_baseline_nothing_goes_out_and_status_says_why() -> None:
    plan = plan_inverter(inverter({date(2026, 12, 1): "1.000"}, opening=None), FETCHED, 2)
    assert plan.send == ()
    assert plan.lines[0].state is SubmissionState.DUE
    assert "lifetime counter" in (plan.lines[0].note or "")


def test_a_value_fetched_before_its_day_ended_waits_and_start_month_is_kept() -> None:
    values = dict.fromkeys(days(date(2026, 11, 28), 6), "1.000")
    early = plan_inverter(
        inverter(values, fetched=datetime(2026, 12, 2, 12, tzinfo=UTC)), FETCHED, 2
    )
    assert max(r.day for r in early.send) == date(2026, 12, 1)
    started = plan_inverter(inverter(values, start=Month(2026, 12)), FETCHED, 2)
    assert min(r.day for r in started.send) == date(2026, 12, 1)


@pytest.mark.parametrize(
    ("sizes", "limit"),
    [([3000], 3000), ([3001], 3000), ([365] * 500, 3000), ([10, 2990, 1], 3000), ([7] * 9, 10)],
)
def test_requests_are_the_fewest_with_each_inverter_once_per_request(
    sizes: list[int], limit: int
) -> None:
    from fusionbridge.core.daily_plan import DayRecord

    plans = [
        InverterDays(
            f"RM-{n}",
            (),
            tuple(
                DayRecord(date(2026, 1, 1) + timedelta(days=i), Decimal(1), Decimal(i))
                for i in range(size)
            ),
        )
        for n, size in enumerate(sizes)
    ]
    requests = split_requests(plans, limit)
    assert len(requests) == -(-sum(sizes) // limit)
    for request in requests:
        names = [name for name, _ in request]
        assert len(names) == len(set(names))
        assert sum(len(records) for _, records in request) <= limit
    for plan in plans:
        carried = [
            r
            for request in requests
            for name, part in request
            if name == plan.remote_inv_id
            for r in part
        ]
        assert tuple(carried) == plan.send  # every record once, days ascending


def test_a_request_never_exceeds_redex_limit() -> None:
    with pytest.raises(ValueError, match="3000"):
        split_requests([], 3001)
