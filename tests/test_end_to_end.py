"""FusionSolar → ledger → REDEX over real HTTP: REDEX ends up holding exactly Huawei's truth.

Both simulators run on 127.0.0.1 and share one VirtualClock with the client, so Huawei's
one-call-per-minute pacing and REDEX's 5-per-5-s window are real rules that cost no time.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest

from fusionbridge.clock import VirtualClock
from fusionbridge.core.models import Month
from fusionbridge.errors import DailyCapError
from fusionbridge.jobs.push import push
from fusionbridge.jobs.sync import sync
from fusionbridge.simulator.fusionsolar import Fault
from tests.pipeline_harness import Pipeline, serve_pipeline

FEB_10 = datetime(2026, 2, 10, 12, 0, tzinfo=UTC)
FIRST, LAST = Month(2025, 2), Month(2026, 1)
START_MONTH = Month(2025, 5)
HUAWEI_PACE = {"min_interval_s": 65.0}


def minimum_calls(pipeline: Pipeline, years: int, day_months: int) -> Counter[str]:
    """The fewest FusionSolar calls SPEC §6 allows for the mixed inverters over the range.

    One page of plants and one getDevList batch (12 plants ≤ 100); device month values per
    (type, year) and day values per (type, month), two inverter types; plants alike, one batch.
    """
    types = 2
    return Counter(
        {
            "login": 1,
            "stations": 1,
            "getDevList": 1,
            "getDevKpiMonth": types * years,
            "getKpiStationMonth": years,
            "getDevKpiDay": types * day_months,
            "getKpiStationDay": day_months,
        }
    )


def assert_holds_truth(pipeline: Pipeline, inverters: list[dict[str, object]]) -> None:
    """Every inverter-month REDEX holds is Huawei's value, and every due one is there."""
    for entry in inverters:
        remote_inv_id = str(entry["remote_inv_id"])
        start = Month.parse(str(entry["start_month"])) if "start_month" in entry else FIRST
        assert pipeline.held(remote_inv_id) == pipeline.truth(entry, start, LAST), remote_inv_id
    configured = {str(e["remote_inv_id"]) for e in inverters}
    assert {inv for inv, _, _ in pipeline.redex.accepted} == configured


async def test_twelve_months_across_a_year_boundary_reach_redex_exactly(
    ledger_target: Path | str,
) -> None:
    clock = VirtualClock(FEB_10)
    async with serve_pipeline(ledger_target, clock, window_s=60.0) as pipeline:
        inverters = pipeline.mixed_inverters(start_month=START_MONTH)
        pipeline.redex.register(*(str(e["remote_inv_id"]) for e in inverters))
        settings = pipeline.settings(inverters, fusionsolar=HUAWEI_PACE)
        async with pipeline.runtime(settings, clock) as rt:
            synced = await sync(rt, first=FIRST, last=LAST)
            assert pipeline.fusionsolar.calls == minimum_calls(pipeline, years=2, day_months=1)
            assert synced.month_values == 12 * len(inverters)
            assert synced.calls == sum(pipeline.fusionsolar.calls.values())
            await sync(rt, daily=True)  # the daily job brings the current month in too
            pushed = await push(rt, wait_s=60)

    assert_holds_truth(pipeline, inverters)
    assert not any(month == (2026, 2) for month in pipeline.held("RM-TOKYO-T1-BY-ID"))
    # December 2025, pushed in 2026, travels in the 2025 item; January in the 2026 item.
    for body in pipeline.monthly_bodies():
        for item in body:
            values = item["Data"]["PeriodProductionPerMonthInKWh"]
            assert list(values) == [m.key for m in map(Month(2025, 1).shift, range(12))]
            if item["Data"]["Year"] == 2026:
                assert [k for k, v in values.items() if v is not None] == ["Jan"]
    sent = pipeline.items_sent()
    assert len(sent) == len(set(sent)) == 2 * len(inverters)
    assert pushed.standing_problems == 0
    assert pushed.sent == len(sent)
    assert pipeline.fusionsolar.count("login") == 1
    assert all(
        pipeline.fusionsolar.served[e] == n
        for e, n in pipeline.fusionsolar.calls.items()
        if e != "login"
    ), "every FusionSolar call was answered: the pacing never drew a 407"
    assert pipeline.redex.count(status=429) == 0


async def test_december_goes_out_in_january_with_its_own_year(ledger_target: Path | str) -> None:
    """Before push day December is held back; on it, the daily job sends it as Year 2025."""
    clock = VirtualClock(datetime(2026, 1, 2, 12, 0, tzinfo=UTC))
    async with serve_pipeline(ledger_target, clock, window_s=60.0) as pipeline:
        inverters = pipeline.mixed_inverters()
        pipeline.redex.register(*(str(e["remote_inv_id"]) for e in inverters))
        settings = pipeline.settings(inverters, fusionsolar=HUAWEI_PACE)
        async with pipeline.runtime(settings, clock) as rt:
            await sync(rt, first=Month(2025, 11), last=Month(2025, 12))
            await push(rt, wait_s=60)
            november_only = {
                m for inv in inverters for m in pipeline.held(str(inv["remote_inv_id"]))
            }
            assert november_only == {(2025, 11)}

            # 3 January, 09:00 in São Paulo and 21:00 in Tokyo: past push_day 3 at 07:00.
            clock.set(datetime(2026, 1, 3, 12, 0, tzinfo=UTC))
            await sync(rt, daily=True)
            await push(rt, wait_s=60)

    for entry in inverters:
        remote_inv_id = str(entry["remote_inv_id"])
        expected = pipeline.truth(entry, Month(2025, 11), Month(2025, 12))
        assert pipeline.held(remote_inv_id) == expected, remote_inv_id
    years = {item["Data"]["Year"] for body in pipeline.monthly_bodies() for item in body}
    assert years == {2025}, "January 2026 is the current month: nothing for 2026 goes out"


async def test_a_sync_stopped_by_the_daily_cap_keeps_what_it_fetched(
    ledger_target: Path | str,
) -> None:
    """Each paced call is committed as it lands; the next day's sync fetches only the rest."""
    clock = VirtualClock(FEB_10)
    caps = {"getDevKpiMonth": 1}
    async with serve_pipeline(ledger_target, clock, daily_caps=caps) as pipeline:
        inverters = pipeline.mixed_inverters()
        settings = pipeline.settings(inverters)
        async with pipeline.runtime(settings, clock) as rt:
            with pytest.raises(DailyCapError):
                await sync(rt, first=FIRST, last=LAST)
            kept = await rt.ledger.energy.monthly()
            # The one call Huawei allowed: 2025 for the type 1 inverters.
            type_1 = {str(pipeline.device_id(e)) for e in inverters if pipeline.type_id(e) == 1}
            assert {(s.id, m.year) for s, m in kept} == {(d, 2025) for d in type_1}
            assert len(kept) == 11 * len(type_1)

            pipeline.fusionsolar.config.daily_caps = {}
            clock.advance(24 * 3600)
            await sync(rt, first=FIRST, last=LAST)
            assert len(await rt.ledger.energy.monthly()) == 12 * len(inverters)


async def test_push_needs_no_fusionsolar_once_the_ledger_holds_the_months(
    ledger_target: Path | str,
) -> None:
    """FusionSolar down (or its daily cap spent) must not hold back what the ledger has."""
    clock = VirtualClock(datetime(2026, 2, 1, 12, 0, tzinfo=UTC))
    async with serve_pipeline(ledger_target, clock) as pipeline:
        inverters = pipeline.mixed_inverters()
        pipeline.redex.register(*(str(e["remote_inv_id"]) for e in inverters))
        settings = pipeline.settings(inverters)
        async with pipeline.runtime(settings, clock) as rt:
            await sync(rt, first=Month(2025, 12), last=Month(2026, 1))
        calls = sum(pipeline.fusionsolar.calls.values())

        # Past push day January is due, and the cached inventory is days old.
        clock.set(datetime(2026, 2, 10, 12, 0, tzinfo=UTC))
        pipeline.fusionsolar.inject(Fault("http502", times=1000))
        async with pipeline.runtime(settings, clock) as rt:
            pushed = await push(rt, wait_s=60)

    assert pushed.standing_problems == 0
    assert sum(pipeline.fusionsolar.calls.values()) == calls, "push never called FusionSolar"
    for entry in inverters:
        expected = pipeline.truth(entry, Month(2025, 12), Month(2026, 1))
        assert pipeline.held(str(entry["remote_inv_id"])) == expected
