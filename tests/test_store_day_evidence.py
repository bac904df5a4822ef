"""The ledger part behind a daily month's evidence, on SQLite and PostgreSQL alike."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from fusionbridge.clock import VirtualClock
from fusionbridge.core.outcomes import Rejected, Sent
from fusionbridge.evidence.raw import RawResponse
from fusionbridge.store import Ledger
from fusionbridge.store.day_submissions import Baseline, DayRecordOut

T0 = datetime(2026, 11, 2, 6, 30, tzinfo=UTC)


@pytest.fixture
async def ledger(ledger_target: Path | str) -> AsyncIterator[Ledger]:
    async with Ledger.open(ledger_target, VirtualClock(T0)) as opened:
        yield opened


async def test_answers_items_and_requests_read_back_as_recorded(ledger: Ledger) -> None:
    oct31 = DayRecordOut("RM-A", date(2026, 10, 31), Decimal("1.500"), Decimal("101.500"))
    nov1 = DayRecordOut("RM-A", date(2026, 11, 1), Decimal("2.250"), Decimal("103.750"))
    other = DayRecordOut("RM-B", date(2026, 11, 1), Decimal("9.000"), Decimal("9.000"))
    first = await ledger.days.begin_day_request([oct31, nov1, other], '{"Devices": [1]}', T0)
    await ledger.day_evidence.record_day_answer(first, 201, '{"Data": {"ProcessId": 7}}', T0)
    await ledger.day_evidence.record_day_answer(first, 500, "a second answer is ignored", T0)
    await ledger.days.finish_day_request(first, {"RM-A": Sent(7), "RM-B": Rejected("no")}, T0)
    second = await ledger.days.begin_day_request([nov1], '{"Devices": [2]}', T0)

    answers = await ledger.day_evidence.day_answers([first, second])
    assert set(answers) == {first}
    assert (answers[first].http_status, answers[first].body) == (201, '{"Data": {"ProcessId": 7}}')
    assert answers[first].received_at == T0

    november = await ledger.day_evidence.day_items(["RM-A"], date(2026, 11, 1), date(2026, 11, 30))
    assert [(i.request_id, i.day, i.kwh, i.accumulated_kwh) for i in november] == [
        (first, date(2026, 11, 1), Decimal("2.250"), Decimal("103.750")),
        (second, date(2026, 11, 1), Decimal("2.250"), Decimal("103.750")),
    ]
    assert [(i.outcome, i.process_id) for i in november] == [("sent", 7), (None, None)]
    rejected = await ledger.day_evidence.day_items(["RM-B"], date(2026, 11, 1), date(2026, 11, 1))
    assert [(i.outcome, i.message) for i in rejected] == [("rejected", "no")]

    logged = await ledger.day_evidence.day_requests([second, first])
    assert [(r.id, r.payload) for r in logged] == [
        (first, '{"Devices": [1]}'),
        (second, '{"Devices": [2]}'),
    ]
    assert logged[0].finished_at == T0
    assert logged[1].finished_at is None
    assert await ledger.day_evidence.day_answers([]) == {}
    assert await ledger.day_evidence.day_requests([]) == []


async def test_a_counter_answer_is_kept_and_linked_once(ledger: Ledger) -> None:
    baseline = Baseline(
        "RM-A",
        "device:1:product_power",
        date(2026, 10, 1),
        Decimal("90.000"),
        Decimal("100.000"),
        "total_cap",
        '{"total_cap": "100.000"}',
        Decimal("10.000"),
        T0,
    )
    assert await ledger.days.save_baseline(baseline)
    body = b'{"data": [{"devId": 1, "dataItemMap": {"total_cap": "100.000"}}]}'
    answer = RawResponse("getDevRealKpi", '{"devIds": "1"}', T0, body, ("1",))
    await ledger.day_evidence.keep_counter_answers([answer], {"RM-A": "1"})
    linked = await ledger.day_evidence.counter_answer_ids()
    assert set(linked) == {"RM-A"}
    [kept] = await ledger.raw.raw_responses([linked["RM-A"]])
    assert (kept.endpoint, kept.body, kept.sha256) == ("getDevRealKpi", body, answer.sha256)

    later = RawResponse("getDevRealKpi", '{"devIds": "1"}', T0, b'{"data": []}', ("1",))
    await ledger.day_evidence.keep_counter_answers([later], {"RM-A": "1"})
    assert await ledger.day_evidence.counter_answer_ids() == linked, "the first link stands"


async def test_redex_answers_and_statuses_are_read_back_by_integer_id(ledger: Ledger) -> None:
    """The evidence reads ids through a bound JSON array: PostgreSQL needs them cast back."""
    record = DayRecordOut("RM-A", date(2026, 11, 1), Decimal("2.250"), Decimal("103.750"))
    request = await ledger.days.begin_day_request([record], '{"Devices": []}', T0)
    await ledger.day_evidence.record_day_answer(request, 201, "{}", T0)
    assert set(await ledger.day_evidence.day_answers([request, request + 1])) == {request}
    await ledger.redex_log.record_status(7000001, "Processing", '{"a": 1}', T0)
    await ledger.redex_log.record_status(7000001, "Success", '{"a": 2}', T0)
    history = await ledger.redex_log.status_history([7000001, 7000002])
    assert [s.status for s in history[7000001]] == ["Processing", "Success"]
    assert await ledger.redex_log.answers([request]) == {}  # monthly answers live apart
