"""Hard checks in the push plan: an impossible month is held, alone, until it changes or is forced."""

from __future__ import annotations

from decimal import Decimal

import pytest

from fusionbridge.core.checks import hard_check
from fusionbridge.core.due import LedgerView, MonthRecord
from fusionbridge.core.inverters import Target
from fusionbridge.core.push_plan import PushItem, PushPlan, SendReason, plan_push
from tests.test_push_plan import AMS, DEFAULT, RM1, D, S, fetched, m, utc, year

# 92.4 kWp in Amsterdam: March 2025 has 743 hours (spring forward), so at most 68,653.2 kWh.
CAPACITY = {"RM-1": D("92.4"), "RM-2": D("92.4")}


@pytest.mark.parametrize(
    ("kwh", "reason"),
    [
        ("-0.5", "negative value -0.500 kWh"),
        ("99999999", "99999999.000 kWh is above what 92.4 kWp can produce in 743 h (68653.2 kWh)"),
    ],
)
def test_an_impossible_month_is_held_and_nothing_else_is_affected(kwh: str, reason: str) -> None:
    ledger: LedgerView = {
        "RM-1": {m("2025-02"): fetched("10"), m("2025-03"): fetched(kwh)},
        "RM-2": {m("2025-03"): fetched("68653.2")},  # exactly the ceiling: passes
    }
    targets = [RM1, Target("RM-2", AMS)]
    plan = plan_push(targets, ledger, utc(2025, 4, 10), DEFAULT, capacities=CAPACITY)
    assert plan.items == (
        PushItem("RM-1", 2025, year(None, "10.000"), ((m("2025-02"), SendReason.NEW),)),
        PushItem("RM-2", 2025, year(None, None, "68653.200"), ((m("2025-03"), SendReason.NEW),)),
    )
    assert [(h.remote_inv_id, h.month, h.reason) for h in plan.held] == [
        ("RM-1", m("2025-03"), reason)
    ]


def test_no_capacity_no_ceiling_but_never_negative() -> None:
    ledger: LedgerView = {"RM-1": {m("2025-03"): fetched("99999999")}}
    plan = plan_push([RM1], ledger, utc(2025, 4, 10), DEFAULT)
    assert plan.held == ()
    assert len(plan.items) == 1


def test_a_held_month_goes_out_when_it_changes_or_when_forced_for_its_inverter() -> None:
    held = MonthRecord(kwh=D(-1), fetched_at=utc(2030, 1, 1), state=S.HELD)
    fixed = MonthRecord(kwh=D(7), fetched_at=utc(2030, 1, 1), state=S.HELD)
    now, march = utc(2025, 4, 10), m("2025-03")
    assert plan_push([RM1], {"RM-1": {march: fixed}}, now, DEFAULT, capacities=CAPACITY).items == (
        PushItem("RM-1", 2025, year(None, None, "7.000"), ((march, SendReason.NEW),)),
    )
    ledger: LedgerView = {"RM-1": {march: held}}
    unnamed = plan_push([RM1], ledger, now, DEFAULT, month=march, force=True)
    assert unnamed.items == ()
    assert len(unnamed.held) == 1
    forced = plan_push([RM1], ledger, now, DEFAULT, month=march, inverter="RM-1", force=True)
    assert forced.items == (
        PushItem("RM-1", 2025, year(None, None, "-1.000"), ((march, SendReason.FORCED),)),
    )
    # once REDEX took the confirmed value, the same value is not held again
    confirmed = MonthRecord(
        kwh=D(-1), fetched_at=utc(2030, 1, 1), state=S.SENT, sent_kwh=D("-1.000")
    )
    again = plan_push([RM1], {"RM-1": {march: confirmed}}, now, DEFAULT, capacities=CAPACITY)
    assert again == PushPlan((), (), ())


def test_inverter_narrows_the_plan() -> None:
    ledger: LedgerView = {
        "RM-1": {m("2025-01"): fetched("1")},
        "RM-2": {m("2025-01"): fetched("2")},
    }
    plan = plan_push([RM1, Target("RM-2", AMS)], ledger, utc(2025, 2, 10), DEFAULT, inverter="RM-2")
    assert [i.remote_inv_id for i in plan.items] == ["RM-2"]


@pytest.mark.parametrize(
    ("kwh", "capacity", "hours", "passes"),
    [
        ("0", None, "744", True),
        ("-0.001", None, "744", False),
        ("Infinity", None, "744", False),
        ("NaN", "10", "744", False),
        ("7440", "10", "744", True),
        ("7440.001", "10", "744", False),
        ("7450", "10", "745", True),  # the autumn month has an hour more
        ("1e12", "0", "744", True),  # a capacity of 0 is unknown, not a ceiling of 0
    ],
)
def test_hard_check(kwh: str, capacity: str | None, hours: str, passes: bool) -> None:
    limit = None if capacity is None else Decimal(capacity)
    assert (hard_check(Decimal(kwh), limit, Decimal(hours)) is None) is passes
