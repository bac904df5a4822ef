"""Event detection is a pure function of ledger facts and now; each incident has one stable key."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from fusionbridge.core.models import Month
from fusionbridge.notify.events import JobFact, MonthFact, detect

NOW = datetime(2026, 5, 10, 8, 0, tzinfo=UTC)


def month(
    state: str,
    *,
    value: str = "12.5",
    drift: str | None = None,
    days: int | None = 300,
    error: str | None = None,
) -> MonthFact:
    deadline = None if days is None else (NOW + timedelta(days=days)).date()
    return MonthFact(
        "RM-1",
        Month(2025, 6),
        state,
        Decimal(value),
        Decimal(drift) if drift else None,
        deadline,
        days,
        error,
    )


def test_nothing_stands_nothing_is_sent() -> None:
    assert detect([month("accepted", days=None), month("sent")], {}, NOW) == []


def test_standing_problem_states_each_make_one_event_per_value() -> None:
    for state in ("rejected", "failed", "held"):
        first = detect([month(state, error="named by REDEX")], {}, NOW)
        assert [e.kind for e in first] == [state]
        assert "named by REDEX" in first[0].body
        assert "push --month 2025-06 --force" in first[0].body
        again = detect([month(state, error="named by REDEX")], {}, NOW)
        assert [e.key for e in again] == [e.key for e in first]
        retried = detect([month(state, value="13.0")], {}, NOW)
        assert retried[0].key != first[0].key


def test_a_state_it_does_not_know_flows_through_without_an_event() -> None:
    assert detect([month("unconfirmed")], {}, NOW) == []


def test_deadline_within_thirty_days_unless_accepted() -> None:
    assert [e.kind for e in detect([month("due", days=30)], {}, NOW)] == ["deadline"]
    assert detect([month("due", days=31)], {}, NOW) == []
    passed = detect([month("fetched", days=-3)], {}, NOW)
    assert "passed" in passed[0].title
    assert detect([month("accepted", days=5)], {}, NOW) == []


def test_drift_is_one_event_per_drift_value() -> None:
    one = detect([month("accepted", drift="1.5", days=None)], {}, NOW)
    assert [e.kind for e in one] == ["drift"]
    assert "+1.5 kWh" in one[0].body
    other = detect([month("accepted", drift="2.0", days=None)], {}, NOW)
    assert other[0].key != one[0].key


def test_credentials_refused_once_per_failure_streak() -> None:
    ok_at = NOW - timedelta(days=3)
    refused = JobFact("sync", ok_at, NOW, "fusionsolar refused the credentials: failCode 20400")
    events = detect([], {"sync": refused}, NOW)
    kinds = sorted(e.kind for e in events)
    assert kinds == ["credentials", "stale_sync"]
    later = JobFact("sync", ok_at, NOW + timedelta(hours=5), refused.last_error)
    assert {e.key for e in detect([], {"sync": later}, NOW)} == {e.key for e in events}
    healed = JobFact("sync", NOW + timedelta(hours=6), NOW + timedelta(hours=5), None)
    assert detect([], {"sync": healed}, NOW + timedelta(hours=6)) == []
    oauth = JobFact(
        "sync",
        None,
        NOW,
        "FusionSolar authorization expired or revoked: run fusionbridge authorize",
    )
    assert [e.kind for e in detect([], {"sync": oauth}, NOW)] == ["credentials"]
    other_error = JobFact("push", None, NOW, "REDEX answered monthly_data with HTTP 503")
    assert detect([], {"push": other_error}, NOW) == []


def test_no_successful_sync_for_two_days() -> None:
    recent = JobFact("sync", NOW - timedelta(days=1, hours=23), None, None)
    assert detect([], {"sync": recent}, NOW) == []
    old = JobFact("sync", NOW - timedelta(days=2), NOW, "FusionSolar unreachable")
    events = detect([], {"sync": old}, NOW)
    assert [e.kind for e in events] == ["stale_sync"]
    assert "FusionSolar unreachable" in events[0].body
    assert detect([], {"sync": old}, NOW + timedelta(days=1))[0].key == events[0].key


def test_events_are_sorted_by_key_and_deadline_uses_date() -> None:
    facts = [month("rejected", days=10), month("held", days=10)]
    events = detect(facts, {}, NOW)
    assert [e.key for e in events] == sorted(e.key for e in events)
    assert any(str(date(2026, 5, 20)) in e.key for e in events)
