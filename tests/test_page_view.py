"""The page's pure parts: I-REC deadlines, bar proportions, state looks, next actions."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from fusionbridge.core.deadlines import days_left, issue_deadline
from fusionbridge.core.models import Month
from fusionbridge.page.facts import InverterFacts, MonthFacts, PageFacts, PlantFacts
from fusionbridge.page.problems import problems_of
from fusionbridge.page.render import render_page
from fusionbridge.page.states import STATE_LOOKS, look
from fusionbridge.page.svg import Bar, bar_height, month_bars
from fusionbridge.page.view import build_view

NOW = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
ZONE = ZoneInfo("Europe/Amsterdam")


@pytest.mark.parametrize(
    ("month", "deadline"),
    [
        (Month(2026, 1), date(2027, 5, 31)),
        (Month(2026, 6), date(2027, 5, 31)),
        (Month(2026, 7), date(2027, 9, 30)),
        (Month(2026, 12), date(2027, 9, 30)),
        (Month(2024, 2), date(2025, 5, 31)),
    ],
)
def test_irec_deadline_by_half_year(month: Month, deadline: date) -> None:
    assert issue_deadline(month) == deadline


def test_days_left_counts_to_the_deadline_and_goes_negative_after() -> None:
    assert days_left(issue_deadline(Month(2026, 6)), date(2027, 5, 30)) == 1
    assert days_left(issue_deadline(Month(2026, 6)), date(2027, 6, 1)) == -1


def test_bars_are_in_proportion_and_text_is_escaped() -> None:
    bars = [
        Bar("2026-01", "<b>jan</b>", Decimal("50"), "st-accepted", "✓"),
        Bar("2026-02", "feb", Decimal("100"), "st-held", "‖"),
        Bar("2026-03", "mar", None, "st-missing", "-"),
        Bar("2026-04", "apr", Decimal("0"), "st-due", "●"),
    ]
    svg = month_bars(bars, caption='A & "B"')
    found = re.findall(r'height="([\d.]+)" data-month="([\d-]+)"', svg)
    heights = {month: float(height) for height, month in found}
    assert heights["2026-02"] == 2 * heights["2026-01"]
    assert heights["2026-04"] == 0
    assert "&lt;b&gt;jan&lt;/b&gt;" in svg
    assert "<b>" not in svg
    assert 'aria-label="A &amp; &quot;B&quot;"' in svg
    assert bar_height(Decimal(1), Decimal(0), 100) == 0.0


def test_every_state_has_its_own_symbol_and_an_unknown_state_still_reads() -> None:
    shown = {k: v for k, v in STATE_LOOKS.items() if k != "sending"}
    assert len({v.symbol for v in shown.values()}) == len(shown)
    assert len({v.css for v in shown.values()}) == len(shown)
    odd = look("quarantined")
    assert odd.symbol == "◇"
    assert "quarantined" in odd.words


def inverter(months: dict[Month, MonthFacts], *, resolved: bool = True) -> InverterFacts:
    return InverterFacts("RM-1", "device:1:product_power", ZONE, "NE=1", months, resolved)


def test_each_problem_names_its_exact_next_action() -> None:
    october, november = Month(2026, 10), Month(2026, 11)
    months = {
        Month(2026, 3): MonthFacts(Month(2026, 3), Decimal(5), "accepted", Decimal("1.250")),
        october: MonthFacts(october, Decimal(9), "failed", last_error="Failed at REDEX"),
        november: MonthFacts(
            november, Decimal(7), "rejected", last_error="RM-1 must send {Daily} generation data."
        ),
    }
    actions = [p.action for p in problems_of([inverter(months)], ["sync: no sync yet"], NOW)]
    assert actions[0] == "fusionbridge sync"
    assert "fusionbridge push --month 2026-03 --force" in actions[-1]
    assert "fusionbridge push --month 2026-10 --force" in actions
    assert '[[inverters]] remote_inv_id = "RM-1"  →  add: frequency = "daily"' in actions
    unresolved = problems_of([inverter({}, resolved=False)], [], NOW)
    assert unresolved[0].action.startswith("fusionbridge discover --toml")


def test_render_escapes_what_comes_from_the_ledger() -> None:
    evil = "<script>alert(1)</script>"
    months = {Month(2026, 11): MonthFacts(Month(2026, 11), Decimal(3), "rejected", last_error=evil)}
    facts = PageFacts(
        now=NOW, zone=ZONE, version="t", failing=(), jobs={}, next_runs={}, calls_today={},
        inverters=[inverter(months)], plants=[], live_interval_min=15,
    )  # fmt: skip
    html = render_page(build_view(facts))
    assert "<script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert '<meta http-equiv="refresh" content="60">' in html


def test_plant_figures_say_how_old_they_are_and_when_they_are_stale() -> None:
    fresh = PlantFacts("NE=1", "Utrecht", ZONE, Decimal(12), Decimal(900), 3, NOW, {10: Decimal(2)})
    old = PlantFacts("NE=2", "Chiba", ZONE, None, None, 1, NOW - timedelta(hours=2))
    facts = PageFacts(
        now=NOW, zone=ZONE, version="t", failing=(), jobs={}, next_runs={}, calls_today={},
        inverters=[], plants=[fresh, old], live_interval_min=15,
    )  # fmt: skip
    cards = build_view(facts).plants
    assert cards[0].age == "read 0 s ago"
    assert (cards[0].health, cards[0].today_kwh) == ("healthy", "12.0")
    assert cards[0].chart is not None
    assert 'data-hour="10"' in cards[0].chart
    assert cards[1].age == "read 2 h ago (stale)"
    assert cards[1].health == "disconnected"
    assert cards[1].chart is None
