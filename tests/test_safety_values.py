"""SPEC §10 on the push path, through the command line against both simulators on loopback.

Held values, a REDEX slower than `redex.timeout_s`, a 201 without a ProcessId: each trial from
the certificate-safety issue, with REDEX's own record of what it took as the judge.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from datetime import date
from decimal import Decimal
from typing import Any

from fusionbridge.clock import SystemClock
from fusionbridge.core.models import Month
from fusionbridge.daemon.metrics import Metrics
from fusionbridge.daemon.status import ledger_status, state_counts
from fusionbridge.settings import Settings
from fusionbridge.simulator.redex import Fault
from fusionbridge.store import Ledger
from tests.pipeline_harness import Pipeline
from tests.test_commands import FIRST, LAST, Cli, _restore_logging, cli, events

__all__ = ["_restore_logging", "cli"]  # fixtures shared with test_commands

NEGATIVE_MILLI = -1_000_000_000  # -1,000,000 kWh: the month goes negative
ABSURD_MILLI = 99_999_999_000  # 99,999,999 kWh in one day


def monthly_posts(pipeline: Pipeline, since: int = 0) -> list[list[dict[str, Any]]]:
    return [
        r.body
        for r in pipeline.redex.requests[since:]
        if r.endpoint == "monthly_data" and isinstance(r.body, list)
    ]


def carried(posts: list[list[dict[str, Any]]]) -> Counter[tuple[str, int]]:
    """How often each (RemoteInvId, Year) was carried by the given requests."""
    return Counter((i["RemoteInvId"], i["Data"]["Year"]) for body in posts for i in body)


def valued_day(pipeline: Pipeline, entry: dict[str, Any], month: Month) -> date:
    """A day of `month` on which the entry's device reports a value (some days have none)."""
    device = pipeline.device_id(entry)
    fleet = pipeline.fusionsolar.fleet
    return next(d for d in month.days() if fleet.device_day(device, d)[0].has_value)


async def test_impossible_values_are_held_and_every_other_month_is_sent_exactly(
    cli: Cli,
) -> None:
    fleet, pipeline = cli.pipeline.fusionsolar.fleet, cli.pipeline
    negative, absurd, _ = cli.inverters
    truth = {e["remote_inv_id"]: pipeline.truth(e, FIRST, LAST) for e in cli.inverters}
    fleet.corrupt(
        pipeline.device_id(negative), valued_day(pipeline, negative, FIRST), NEGATIVE_MILLI
    )
    fleet.corrupt(pipeline.device_id(absurd), valued_day(pipeline, absurd, LAST), ABSURD_MILLI)
    assert (await cli("sync", "--from", str(FIRST), "--to", str(LAST))).code == 0

    pushed = await cli("push", "--wait", "10")

    assert pushed.code == 1, "a held month is a standing problem"
    assert "Traceback" not in pushed.err
    neg_id, abs_id = negative["remote_inv_id"], absurd["remote_inv_id"]
    assert f"held: {neg_id} {FIRST}: negative value" in pushed.out
    assert re.search(rf"held: {abs_id} {LAST}: \d{{9}}\.\d{{3}} kWh is above what", pushed.out)
    assert f"push --month {FIRST} --inverter {neg_id} --force" in pushed.out
    held_events = {
        (e["inverter"], e["month"]) for e in events(pushed.err) if e["event"] == "push.held"
    }
    assert held_events == {(neg_id, str(FIRST)), (abs_id, str(LAST))}
    expected = {inv: dict(months) for inv, months in truth.items()}
    del expected[neg_id][(FIRST.year, FIRST.month)]
    del expected[abs_id][(LAST.year, LAST.month)]
    for remote_inv_id, months in expected.items():
        assert cli.pipeline.held(remote_inv_id) == months, remote_inv_id
    assert max(carried(monthly_posts(cli.pipeline)).values()) == 1, "no item twice"

    status = json.loads((await cli("status", "--json")).out)
    held = {
        (inv["remote_inv_id"], m["month"]): m["last_error"]
        for inv in status["inverters"]
        for m in inv["months"]
        if m["state"] == "held"
    }
    assert set(held) == {(neg_id, str(FIRST)), (abs_id, str(LAST))}
    assert "negative value" in held[neg_id, str(FIRST)]
    assert status["counts"]["held"] == 2
    settings = Settings(**cli.pipeline.config(cli.inverters))
    async with Ledger.open(cli.pipeline.ledger, SystemClock()) as ledger:
        lines = await ledger_status(settings, ledger, SystemClock().now())
    metrics = Metrics()
    metrics.set_submissions(state_counts(lines))
    assert metrics.submissions.labels(state="held")._value.get() == 2

    posts_before = len(monthly_posts(cli.pipeline))
    again = await cli("push", "--wait", "10")
    assert again.code == 1
    assert len(monthly_posts(cli.pipeline)) == posts_before, "a held month is not sent"

    forced = await cli(
        "push", "--month", str(LAST), "--inverter", abs_id, "--force", "--wait", "10"
    )
    assert forced.code == 1, "the negative month still stands held"
    (body,) = monthly_posts(cli.pipeline, since=0)[posts_before:]
    assert [(i["RemoteInvId"], i["Data"]["Year"]) for i in body] == [(abs_id, LAST.year)]
    assert cli.pipeline.held(abs_id)[(LAST.year, LAST.month)] > Decimal(99_999_999)
    status = json.loads((await cli("status", "--json")).out)
    assert status["counts"]["held"] == 1
    assert (await cli("push", "--wait", "10")).code == 1
    assert len(monthly_posts(cli.pipeline)) == posts_before + 1, "confirmed: not held again"


async def test_slow_redex_each_item_once_per_run_then_once_more_then_nothing(cli: Cli) -> None:
    cli.reconfigure(cli.inverters, redex={"timeout_s": 0.3})
    assert (await cli("sync", "--from", str(FIRST), "--to", str(LAST))).code == 0
    redex = cli.pipeline.redex
    redex.inject("monthly_data", Fault.late_answer(1.0), Fault.late_answer(1.0))
    years = {(e["remote_inv_id"], y) for e in cli.inverters for y in {FIRST.year, LAST.year}}

    runs = []
    for _ in range(3):
        since = len(redex.requests)
        outcome = await cli("push", "--wait", "1")
        runs.append((outcome, carried(monthly_posts(cli.pipeline, since))))

    (first, sent1), (second, sent2), (third, sent3) = runs
    assert set(sent1) == years
    assert max(sent1.values()) == 1, "each item at most once per run"
    assert first.code == 1
    assert f"{len(years)} unconfirmed" in first.out
    assert sent2 == sent1, "the next run sends each unconfirmed item once more"
    assert second.code == 1
    assert sent3 == Counter(), "then nothing is repeated blindly"
    assert third.code == 1
    assert "unconfirmed: " in third.out
    # every copy reached REDEX and was processed: it holds the true values
    for entry in cli.inverters:
        truth = cli.pipeline.truth(entry, FIRST, LAST)
        assert cli.pipeline.held(entry["remote_inv_id"]) == truth
    status = json.loads((await cli("status", "--json")).out)
    assert set(status["counts"]) == {"unconfirmed"}


async def test_201_without_a_process_id_fails_and_goes_out_again_only_when_forced(
    cli: Cli,
) -> None:
    assert (await cli("sync", "--from", str(FIRST), "--to", str(LAST))).code == 0
    redex = cli.pipeline.redex
    redex.inject("monthly_data", Fault(201, '{"Data": {}, "StatusCode": 201, "Message": "ok"}'))

    first = await cli("push", "--wait", "1")

    assert first.code == 1
    assert "without a usable ProcessId" in first.out
    posts = len(monthly_posts(cli.pipeline))
    again = await cli("push", "--wait", "1")
    assert again.code == 1
    assert len(monthly_posts(cli.pipeline)) == posts, "a failed batch is not re-sent on its own"

    target = cli.inverters[0]["remote_inv_id"]
    forced = await cli(
        "push", "--month", str(LAST), "--inverter", target, "--force", "--wait", "10"
    )
    # the injected 201 never reached REDEX's handler; only the forced item did
    assert cli.pipeline.items_sent() == [(target, LAST.year)]
    assert forced.code == 1, "the other inverters' months stand failed"


async def test_refused_credentials_leave_no_request_in_doubt(cli: Cli) -> None:
    assert (await cli("sync", "--from", str(FIRST), "--to", str(LAST))).code == 0
    cli.pipeline.redex.inject("monthly_data", Fault(401, "{}"), Fault(401, "{}"))

    refused = await cli("push", "--wait", "1")

    assert refused.code == 1
    assert "credentials refused (redex)" in refused.err
    async with Ledger.open(cli.pipeline.ledger, SystemClock()) as ledger:
        assert await ledger.submissions.in_flight() == []
        states = {r.state.value for r in await ledger.submissions.records()}
    assert states == {"due"}, "a 401 took nothing: due, not unconfirmed"
    again = await cli("push", "--wait", "10")
    assert again.code == 0, again.out
