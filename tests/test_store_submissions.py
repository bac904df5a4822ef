"""Submissions: the request log, finish and processing transitions, drift, in-flight requests."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from fusionbridge.clock import VirtualClock
from fusionbridge.core.models import Month, SubmissionState
from fusionbridge.errors import LedgerError
from fusionbridge.store import Failed, Ledger, Pending, Rejected, RequestItem, Sent, Unconfirmed

T0 = datetime(2025, 3, 3, 7, 0, tzinfo=UTC)
T1 = T0 + timedelta(seconds=2)
T2 = T0 + timedelta(minutes=5)
INV_A = "RM10000203212003543386274014-INV01"
INV_B = "RM10000203212003543386274014-INV02"
JAN, FEB = Month(2025, 1), Month(2025, 2)
DEC = Month(2024, 12)


@pytest.fixture
async def ledger(ledger_target: Path | str) -> AsyncIterator[Ledger]:
    async with Ledger.open(ledger_target, VirtualClock(T0)) as opened:
        yield opened


def payload(*items: tuple[str, Month, Decimal]) -> str:
    return json.dumps([{"RemoteInvId": inv, "Month": str(m), "kWh": str(k)} for inv, m, k in items])


async def states(ledger: Ledger) -> dict[tuple[str, Month], SubmissionState]:
    return {(r.remote_inv_id, r.month): r.state for r in await ledger.submissions.records()}


async def test_begin_logs_the_exact_payload_and_marks_months_sending(ledger: Ledger) -> None:
    items = [(INV_A, JAN, Decimal("1234.500")), (INV_A, FEB, Decimal("0.001"))]
    body = payload(*items)
    request_id = await ledger.submissions.begin_request(items, body, T0)

    [logged] = await ledger.submissions.request_log()
    assert (logged.id, logged.payload_json, logged.begun_at, logged.finished_at) == (
        request_id,
        body,
        T0,
        None,
    )
    assert logged.items == (
        RequestItem(INV_A, JAN, Decimal("1234.500")),
        RequestItem(INV_A, FEB, Decimal("0.001")),
    )
    assert await ledger.submissions.in_flight() == [logged]
    records = await ledger.submissions.records()
    assert [(r.month, r.state, r.attempts, r.request_id, r.value_sent) for r in records] == [
        (JAN, SubmissionState.SENDING, 1, request_id, None),
        (FEB, SubmissionState.SENDING, 1, request_id, None),
    ]
    assert await ledger.submissions.open_process_ids() == []


async def test_finish_records_each_outcome(ledger: Ledger) -> None:
    items = [
        (INV_A, JAN, Decimal("10.000")),
        (INV_A, FEB, Decimal("20.000")),
        (INV_B, JAN, Decimal("30.000")),
        (INV_B, FEB, Decimal("40.000")),
        (INV_B, DEC, Decimal("50.000")),
    ]
    request_id = await ledger.submissions.begin_request(items, payload(*items), T0)
    await ledger.submissions.finish_request(
        request_id,
        {
            (INV_A, JAN): Sent(77),
            (INV_A, FEB): Sent(77),
            (INV_B, JAN): Rejected("must send {Daily} generation data"),
            (INV_B, FEB): Failed("HTTP 400: bad request"),
            # (INV_B, DEC) not reported: pending, back to due
        },
        T1,
    )
    by_key = {(r.remote_inv_id, r.month): r for r in await ledger.submissions.records()}
    sent = by_key[INV_A, JAN]
    assert (sent.state, sent.value_sent, sent.sent_at, sent.process_id, sent.last_error) == (
        SubmissionState.SENT,
        Decimal("10.000"),
        T1,
        77,
        None,
    )
    assert by_key[INV_A, FEB].value_sent == Decimal("20.000")
    rejected = by_key[INV_B, JAN]
    assert (rejected.state, rejected.last_error, rejected.value_sent) == (
        SubmissionState.REJECTED,
        "must send {Daily} generation data",
        None,
    )
    assert (by_key[INV_B, FEB].state, by_key[INV_B, FEB].last_error) == (
        SubmissionState.FAILED,
        "HTTP 400: bad request",
    )
    assert (by_key[INV_B, DEC].state, by_key[INV_B, DEC].last_error) == (
        SubmissionState.DUE,
        "no outcome was recorded",
    )
    assert await ledger.submissions.in_flight() == []
    [logged] = await ledger.submissions.request_log()
    assert logged.finished_at == T1
    assert {(i.remote_inv_id, i.month): (i.outcome, i.process_id) for i in logged.items} == {
        (INV_A, JAN): ("sent", 77),
        (INV_A, FEB): ("sent", 77),
        (INV_B, JAN): ("rejected", None),
        (INV_B, FEB): ("failed", None),
        (INV_B, DEC): ("pending", None),
    }
    assert await ledger.submissions.open_process_ids() == [77]
    assert [r.month for r in await ledger.submissions.records([INV_A])] == [JAN, FEB]


async def test_processing_success_accepts_the_value_sent(ledger: Ledger) -> None:
    items = [(INV_A, JAN, Decimal("10.125")), (INV_B, JAN, Decimal("7"))]
    request_id = await ledger.submissions.begin_request(items, payload(*items), T0)
    await ledger.submissions.finish_request(
        request_id, {(INV_A, JAN): Sent(5), (INV_B, JAN): Sent(5)}, T1
    )

    assert await ledger.submissions.record_processing(5, "Processing", T1) == []
    assert {r.processing_status for r in await ledger.submissions.records()} == {"Processing"}
    assert await ledger.submissions.open_process_ids() == [5]

    settled = await ledger.submissions.record_processing(5, "Success", T2)
    assert settled == [(INV_A, JAN), (INV_B, JAN)]
    record = (await ledger.submissions.records([INV_A]))[0]
    assert (record.state, record.accepted_kwh, record.accepted_at, record.processing_status) == (
        SubmissionState.ACCEPTED,
        Decimal("10.125"),
        T2,
        "Success",
    )
    assert await ledger.submissions.open_process_ids() == []
    # a repeated poll is harmless: nothing settles again, the acceptance time stays
    assert await ledger.submissions.record_processing(5, "Success", T2 + timedelta(hours=1)) == []
    assert (await ledger.submissions.records([INV_A]))[0] == record


async def test_success_of_an_older_process_is_remembered(ledger: Ledger) -> None:
    item = [(INV_A, JAN, Decimal("10"))]
    first = await ledger.submissions.begin_request(item, payload(*item), T0)
    await ledger.submissions.finish_request(first, {(INV_A, JAN): Sent(1)}, T0)
    newer = [(INV_A, JAN, Decimal("11"))]
    await ledger.submissions.begin_request(newer, payload(*newer), T1)
    assert await ledger.submissions.record_processing(1, "Success", T2) == []
    [record] = await ledger.submissions.records()
    assert (record.state, record.accepted_kwh, record.accepted_at) == (
        SubmissionState.SENDING,
        Decimal("10"),
        T2,
    )
    assert await ledger.submissions.record_processing(1, "Success", T2 + timedelta(hours=1)) == []
    assert (await ledger.submissions.records())[0].accepted_at == T2


async def test_processing_failed_fails(ledger: Ledger) -> None:
    items = [(INV_A, JAN, Decimal("1"))]
    request_id = await ledger.submissions.begin_request(items, payload(*items), T0)
    await ledger.submissions.finish_request(request_id, {(INV_A, JAN): Sent(9)}, T1)
    assert await ledger.submissions.record_processing(9, "Failed", T2) == [(INV_A, JAN)]
    [record] = await ledger.submissions.records()
    assert (record.state, record.processing_status, record.last_error, record.accepted_kwh) == (
        SubmissionState.FAILED,
        "Failed",
        "REDEX processing status Failed",
        None,
    )


async def test_resend_after_acceptance_and_drift(ledger: Ledger) -> None:
    first = [(INV_A, JAN, Decimal("100.000"))]
    rid = await ledger.submissions.begin_request(first, payload(*first), T0)
    await ledger.submissions.finish_request(rid, {(INV_A, JAN): Sent(1)}, T0)
    await ledger.submissions.record_processing(1, "Success", T0)

    second = [(INV_A, JAN, Decimal("101.500"))]
    rid2 = await ledger.submissions.begin_request(second, payload(*second), T1)
    [record] = await ledger.submissions.records()
    assert (record.state, record.attempts, record.accepted_kwh) == (
        SubmissionState.SENDING,
        2,
        Decimal("100.000"),
    )
    await ledger.submissions.finish_request(rid2, {(INV_A, JAN): Pending("HTTP 503")}, T1)
    [record] = await ledger.submissions.records()
    assert (
        record.state,
        record.last_error,
        record.value_sent,
        record.requested_kwh,
        record.accepted_kwh,
    ) == (
        SubmissionState.DUE,
        "HTTP 503",
        Decimal("100.000"),
        Decimal("101.500"),
        Decimal("100.000"),
    )

    await ledger.submissions.set_drift(INV_A, JAN, Decimal("1.500"), T2)
    assert (await ledger.submissions.records())[0].drift_kwh == Decimal("1.500")
    await ledger.submissions.set_drift(INV_A, JAN, None, T2)
    assert (await ledger.submissions.records())[0].drift_kwh is None
    with pytest.raises(LedgerError, match="no submission"):
        await ledger.submissions.set_drift(INV_B, JAN, Decimal(1), T2)


async def test_a_late_answer_does_not_overwrite_a_newer_request(ledger: Ledger) -> None:
    item = [(INV_A, JAN, Decimal("5"))]
    old = await ledger.submissions.begin_request(item, payload(*item), T0)
    new = await ledger.submissions.begin_request(item, payload(*item), T1)
    await ledger.submissions.finish_request(old, {(INV_A, JAN): Rejected("stale")}, T2)
    [record] = await ledger.submissions.records()
    assert (record.state, record.request_id, record.last_error) == (
        SubmissionState.SENDING,
        new,
        None,
    )
    assert [r.id for r in await ledger.submissions.in_flight()] == [new]


async def test_finish_is_checked(ledger: Ledger) -> None:
    item = [(INV_A, JAN, Decimal("5"))]
    rid = await ledger.submissions.begin_request(item, payload(*item), T0)
    with pytest.raises(LedgerError, match="did not carry"):
        await ledger.submissions.finish_request(rid, {(INV_B, JAN): Sent(1)}, T1)
    assert [r.id for r in await ledger.submissions.in_flight()] == [
        rid
    ]  # the refused finish changed nothing
    await ledger.submissions.finish_request(rid, {(INV_A, JAN): Sent(1)}, T1)
    with pytest.raises(LedgerError, match="already finished"):
        await ledger.submissions.finish_request(rid, {(INV_A, JAN): Sent(2)}, T1)
    with pytest.raises(LedgerError, match="no push request"):
        await ledger.submissions.finish_request(rid + 1, {}, T1)
    with pytest.raises(ValueError, match="each month once"):
        await ledger.submissions.begin_request(item * 2, "[]", T1)
    with pytest.raises(ValueError, match="at least one"):
        await ledger.submissions.begin_request([], "[]", T1)


async def test_abandon_makes_months_unconfirmed(ledger: Ledger) -> None:
    items = [(INV_A, JAN, Decimal("5")), (INV_B, FEB, Decimal("6"))]
    rid = await ledger.submissions.begin_request(items, payload(*items), T0)
    await ledger.submissions.abandon_request(rid, T1, "interrupted: no answer recorded")
    assert await ledger.submissions.in_flight() == []
    assert await states(ledger) == {
        (INV_A, JAN): SubmissionState.UNCONFIRMED,
        (INV_B, FEB): SubmissionState.UNCONFIRMED,
    }
    assert {i.outcome for i in (await ledger.submissions.request_log())[0].items} == {"unconfirmed"}


async def test_unconfirmed_runs_count_until_an_answer(ledger: Ledger) -> None:
    item = [(INV_A, JAN, Decimal("5"))]
    for expected in (1, 2):
        rid = await ledger.submissions.begin_request(item, payload(*item), T0)
        await ledger.submissions.finish_request(rid, {(INV_A, JAN): Unconfirmed("timed out")}, T1)
        [record] = await ledger.submissions.records()
        assert (record.state, record.unconfirmed_runs) == (SubmissionState.UNCONFIRMED, expected)
        assert record.requested_kwh == Decimal("5")
    rid = await ledger.submissions.begin_request(item, payload(*item), T0)
    await ledger.submissions.finish_request(rid, {(INV_A, JAN): Sent(7)}, T1)
    [record] = await ledger.submissions.records()
    assert (record.state, record.unconfirmed_runs) == (SubmissionState.SENT, 0)


async def test_hold_records_the_reason_once_and_never_touches_a_month_in_flight(
    ledger: Ledger,
) -> None:
    assert await ledger.submissions.hold(INV_A, JAN, "negative value -1.000 kWh", T0)
    assert not await ledger.submissions.hold(INV_A, JAN, "negative value -1.000 kWh", T1)
    [record] = await ledger.submissions.records()
    assert (record.state, record.last_error) == (SubmissionState.HELD, "negative value -1.000 kWh")
    item = [(INV_B, FEB, Decimal("6"))]
    await ledger.submissions.begin_request(item, payload(*item), T0)
    assert not await ledger.submissions.hold(INV_B, FEB, "negative", T1)
    assert (await states(ledger))[(INV_B, FEB)] is SubmissionState.SENDING


async def test_request_payloads_are_append_only(ledger: Ledger) -> None:
    item = [(INV_A, JAN, Decimal("5"))]
    await ledger.submissions.begin_request(item, payload(*item), T0)
    with pytest.raises(LedgerError, match="append-only"):
        await _tamper(ledger, "UPDATE push_requests SET payload = '[]'")
    with pytest.raises(LedgerError, match="append-only"):
        await _tamper(ledger, "DELETE FROM push_requests")
    assert (await ledger.submissions.request_log())[0].payload_json == payload(*item)


async def _tamper(ledger: Ledger, sql: str) -> None:
    async with ledger._db.transaction() as tx:
        await tx.execute(sql)
