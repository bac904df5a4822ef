"""Which monthly-data items a push sends, as hand-derived tables.

Push time for month M in Amsterdam with the defaults is the 3rd of M+1 at 07:00 local:
06:00Z in winter, 05:00Z in summer. A month's value is final when fetched at or after local
midnight ending it (the last day at 23:00Z in winter, 22:00Z in summer).
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from fusionbridge.core.due import LedgerView, MonthRecord
from fusionbridge.core.inverters import Target
from fusionbridge.core.models import MONTH_KEYS, Month, SubmissionState
from fusionbridge.core.push_plan import (
    Drift,
    PushItem,
    PushPlan,
    SendReason,
    plan_push,
    send_reason,
)
from fusionbridge.settings import ScheduleSettings

AMS = ZoneInfo("Europe/Amsterdam")
KIR = ZoneInfo("Pacific/Kiritimati")
PPG = ZoneInfo("Pacific/Pago_Pago")
DEFAULT = ScheduleSettings().rules()
RM1 = Target("RM-1", AMS)
D = Decimal
S = SubmissionState


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def m(text: str) -> Month:
    return Month.parse(text)


def fetched(kwh: str) -> MonthRecord:
    """A final value never sent (fetched long after any month in these tables ended)."""
    return MonthRecord(kwh=D(kwh), fetched_at=utc(2030, 1, 1))


def accepted(kwh: str, upstream: str | None = None) -> MonthRecord:
    return MonthRecord(
        kwh=D(upstream or kwh),
        fetched_at=utc(2030, 1, 1),
        state=S.ACCEPTED,
        sent_kwh=D(kwh),
        accepted_kwh=D(kwh),
    )


def year(*values: str | None) -> tuple[Decimal | None, ...]:
    """Twelve values from Jan; missing trailing months are None."""
    padded = list(values) + [None] * (12 - len(values))
    return tuple(None if v is None else D(v) for v in padded)


@pytest.mark.parametrize(
    ("ledger", "now", "expected"),
    [
        pytest.param(
            {
                "RM-1": {
                    m("2025-01"): accepted("100.000"),
                    m("2025-02"): fetched("200.1234"),
                    m("2025-03"): MonthRecord(kwh=D(5), fetched_at=utc(2025, 3, 3)),
                }
            },
            utc(2025, 3, 3, 6),
            (
                PushItem(
                    "RM-1", 2025, year("100.000", "200.123"), ((m("2025-02"), SendReason.NEW),)
                ),
            ),
            id="due-month-carries-accepted-siblings-never-current",
        ),
        pytest.param(
            {"RM-1": {m("2025-01"): accepted("100.000"), m("2025-02"): fetched("200.1234")}},
            utc(2025, 3, 3, 5, 59),
            (),
            id="one-minute-before-push-time",
        ),
        pytest.param(
            {
                "RM-1": {
                    m("2024-11"): accepted("50"),
                    m("2024-12"): fetched("60.5"),
                    m("2025-01"): MonthRecord(kwh=D(1), fetched_at=utc(2025, 1, 3)),
                }
            },
            utc(2025, 1, 3, 6),
            (
                PushItem(
                    "RM-1",
                    2024,
                    year(*[None] * 10, "50", "60.500"),
                    ((m("2024-12"), SendReason.NEW),),
                ),
            ),
            id="december-pushed-in-january-with-its-year",
        ),
        pytest.param(
            {"RM-1": {m("2025-01"): accepted("1.5"), m("2025-02"): accepted("2.25")}},
            utc(2025, 3, 20),
            (),
            id="unchanged-accepted-months-are-not-sent",
        ),
        pytest.param(
            {
                "RM-1": {
                    m("2025-01"): accepted("30"),
                    m("2025-02"): accepted("40", upstream="41"),
                    m("2025-03"): accepted("100", upstream="101"),
                    m("2025-04"): accepted("10"),
                }
            },
            utc(2025, 5, 10),
            (
                PushItem(
                    "RM-1",
                    2025,
                    year("30", "40", "101.000", "10"),
                    ((m("2025-03"), SendReason.CHANGED),),
                ),
            ),
            id="change-inside-window-resent-frozen-month-keeps-accepted-value",
        ),
        pytest.param(
            {
                "RM-1": {
                    m("2024-09"): accepted("90"),
                    m("2024-10"): accepted("80"),
                    m("2024-11"): fetched("70.25"),
                    m("2024-12"): fetched("60.0004"),
                    m("2025-01"): fetched("50.0005"),
                    m("2025-02"): MonthRecord(kwh=D(3), fetched_at=utc(2025, 2, 10)),
                }
            },
            utc(2025, 2, 10, 12),
            (
                PushItem(
                    "RM-1",
                    2024,
                    year(*[None] * 8, "90", "80", "70.250", "60.000"),
                    ((m("2024-11"), SendReason.NEW), (m("2024-12"), SendReason.NEW)),
                ),
                PushItem("RM-1", 2025, year("50.001"), ((m("2025-01"), SendReason.NEW),)),
            ),
            id="three-month-outage-across-new-year",
        ),
        pytest.param(
            {"RM-1": {m("2025-02"): MonthRecord(kwh=D(5), fetched_at=utc(2025, 2, 28, 22, 59))}},
            utc(2025, 3, 5),
            (),
            id="value-fetched-before-month-end-is-partial",
        ),
        pytest.param(
            {"RM-1": {m("2025-02"): MonthRecord(kwh=D(5), fetched_at=utc(2025, 2, 28, 23))}},
            utc(2025, 3, 5),
            (PushItem("RM-1", 2025, year(None, "5.000"), ((m("2025-02"), SendReason.NEW),)),),
            id="value-fetched-at-month-end-is-final",
        ),
        pytest.param(
            {
                "RM-1": {
                    m("2025-01"): fetched("1"),
                    m("2025-02"): MonthRecord(
                        kwh=D(2), fetched_at=utc(2030, 1, 1), state=S.SENT, sent_kwh=D(2)
                    ),
                    m("2025-03"): MonthRecord(
                        kwh=D(3), fetched_at=utc(2030, 1, 1), state=S.FAILED, sent_kwh=D("2.5")
                    ),
                }
            },
            utc(2025, 4, 3, 5),
            (
                PushItem(
                    "RM-1",
                    2025,
                    year("1.000", "2.000", "3.000"),
                    ((m("2025-01"), SendReason.NEW), (m("2025-03"), SendReason.CHANGED)),
                ),
            ),
            id="new-and-changed-failed-go-out-in-flight-unchanged-is-carried",
        ),
        pytest.param(
            {
                "RM-1": {
                    m("2024-01"): MonthRecord(
                        kwh=D(7),
                        fetched_at=utc(2030, 1, 1),
                        state=S.SENDING,
                        sent_kwh=D(8),
                        accepted_kwh=D(6),
                    ),
                    m("2024-02"): fetched("1"),
                }
            },
            utc(2025, 1, 10),
            (
                PushItem(
                    "RM-1",
                    2024,
                    year("8", "1.000"),
                    ((m("2024-02"), SendReason.NEW),),
                ),
            ),
            id="frozen-month-cut-by-a-crash-repeats-the-value-in-flight",
        ),
    ],
)
def test_push_items(ledger: LedgerView, now: datetime, expected: tuple[PushItem, ...]) -> None:
    assert plan_push([RM1], ledger, now, DEFAULT).items == expected


FROZEN_DRIFT: LedgerView = {
    "RM-1": {
        m("2025-01"): accepted("30"),
        m("2025-02"): accepted("40", upstream="41.0004"),
        m("2025-03"): accepted("100"),
    }
}


def test_frozen_drift_is_reported_not_sent() -> None:
    plan = plan_push([RM1], FROZEN_DRIFT, utc(2025, 5, 10), DEFAULT)
    assert plan == PushPlan((), (Drift("RM-1", m("2025-02"), D("1.000")),), ())


def test_force_sends_the_drifted_frozen_month() -> None:
    plan = plan_push([RM1], FROZEN_DRIFT, utc(2025, 5, 10), DEFAULT, month=m("2025-02"), force=True)
    assert plan.items == (
        PushItem("RM-1", 2025, year("30", "41.000", "100"), ((m("2025-02"), SendReason.FORCED),)),
    )
    assert plan.drift == (Drift("RM-1", m("2025-02"), D("1.000")),)
    assert str(plan.items[0].values[1]) == "41.000"


def test_force_resends_an_unchanged_month() -> None:
    ledger: LedgerView = {"RM-1": {m("2025-03"): accepted("100")}}
    plain = plan_push([RM1], ledger, utc(2025, 5, 10), DEFAULT, month=m("2025-03"))
    forced = plan_push([RM1], ledger, utc(2025, 5, 10), DEFAULT, month=m("2025-03"), force=True)
    assert plain.items == ()
    assert forced.items == (
        PushItem("RM-1", 2025, year(None, None, "100.000"), ((m("2025-03"), SendReason.FORCED),)),
    )


def test_month_restricts_to_its_items() -> None:
    ledger: LedgerView = {
        "RM-1": {m("2024-12"): fetched("12"), m("2025-01"): fetched("1")},
        "RM-2": {m("2025-01"): fetched("2")},
    }
    targets = [RM1, Target("RM-2", AMS)]
    everything = plan_push(targets, ledger, utc(2025, 2, 10), DEFAULT)
    assert [(i.remote_inv_id, i.year) for i in everything.items] == [
        ("RM-1", 2024),
        ("RM-1", 2025),
        ("RM-2", 2025),
    ]
    only_dec = plan_push(targets, ledger, utc(2025, 2, 10), DEFAULT, month=m("2024-12"))
    assert [(i.remote_inv_id, i.year) for i in only_dec.items] == [("RM-1", 2024)]
    assert only_dec.not_due == ("RM-2",)


def test_month_not_yet_due_is_named_and_never_forced() -> None:
    ledger: LedgerView = {"RM-1": {m("2025-05"): MonthRecord(kwh=D(9), fetched_at=utc(2025, 5, 9))}}
    plan = plan_push([RM1], ledger, utc(2025, 5, 10), DEFAULT, month=m("2025-05"), force=True)
    assert plan == PushPlan((), (), ("RM-1",))


def test_force_needs_a_month() -> None:
    with pytest.raises(ValueError, match="force needs a month"):
        plan_push([RM1], {}, utc(2025, 5, 10), DEFAULT, force=True)


def test_start_month_leaves_earlier_months_null() -> None:
    ledger: LedgerView = {"RM-1": {m("2025-01"): fetched("1"), m("2025-02"): fetched("2")}}
    target = Target("RM-1", AMS, m("2025-02"))
    plan = plan_push([target], ledger, utc(2025, 3, 5), DEFAULT)
    assert plan.items == (
        PushItem("RM-1", 2025, year(None, "2.000"), ((m("2025-02"), SendReason.NEW),)),
    )


def test_each_zone_is_due_on_its_own_clock() -> None:
    ledger: LedgerView = {
        "K": {m("2024-12"): fetched("1")},
        "P": {m("2024-12"): fetched("2")},
    }
    targets = [Target("K", KIR), Target("P", PPG)]
    # 2025-01-03 07:00 is 2025-01-02T17:00Z in Kiritimati and 2025-01-03T18:00Z in Pago Pago.
    early = plan_push(targets, ledger, utc(2025, 1, 2, 17), DEFAULT)
    late = plan_push(targets, ledger, utc(2025, 1, 3, 18), DEFAULT)
    assert [i.remote_inv_id for i in early.items] == ["K"]
    assert [i.remote_inv_id for i in late.items] == ["K", "P"]


@pytest.mark.parametrize(
    ("record", "value", "expected"),
    [
        (MonthRecord(), "1", SendReason.NEW),
        (MonthRecord(state=S.FETCHED), "1", SendReason.NEW),
        (MonthRecord(state=S.DUE, sent_kwh=D(1)), "1", SendReason.RETRY),
        (MonthRecord(state=S.SENDING, sent_kwh=D(1)), "1", SendReason.RETRY),
        (MonthRecord(state=S.REJECTED, sent_kwh=D(1)), "1", SendReason.RETRY),
        (MonthRecord(state=S.FAILED, sent_kwh=D(1)), "1", None),
        (MonthRecord(state=S.FAILED, sent_kwh=D(1)), "2", SendReason.CHANGED),
        (MonthRecord(state=S.HELD), "1", SendReason.NEW),
        (
            MonthRecord(state=S.UNCONFIRMED, sent_kwh=D(1), unconfirmed_runs=1),
            "1",
            SendReason.RETRY,
        ),
        (MonthRecord(state=S.UNCONFIRMED, sent_kwh=D(1), unconfirmed_runs=2), "1", None),
        (
            MonthRecord(state=S.UNCONFIRMED, sent_kwh=D(1), unconfirmed_runs=2),
            "1.5",
            SendReason.CHANGED,
        ),
        (MonthRecord(state=S.SENT, sent_kwh=D(1)), "1", None),
        (MonthRecord(state=S.SENT, sent_kwh=D(1)), "1.001", SendReason.CHANGED),
        (MonthRecord(state=S.ACCEPTED, sent_kwh=D(1), accepted_kwh=D(1)), "1.000", None),
        (
            MonthRecord(state=S.ACCEPTED, sent_kwh=D(1), accepted_kwh=D(1)),
            "0.999",
            SendReason.CHANGED,
        ),
    ],
)
def test_send_reason(record: MonthRecord, value: str, expected: SendReason | None) -> None:
    assert send_reason(record, D(value)) is expected


def test_item_rows_are_the_months_it_carries() -> None:
    item = PushItem("RM-1", 2024, year(None, "2.000"), ())
    assert len(item.values) == len(MONTH_KEYS)
    assert item.rows() == [("RM-1", m("2024-02"), D("2.000"))]
    assert item.key == ("RM-1", 2024)
