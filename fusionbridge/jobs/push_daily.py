"""push, daily side: send every due, changed or unconfirmed day of daily-registered inverters."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import TextIO

from fusionbridge.app import Runtime
from fusionbridge.core.daily_plan import (
    DailyInverter,
    DayFacts,
    InverterDays,
    plan_inverter,
    split_requests,
)
from fusionbridge.core.inverters import ResolvedInverter
from fusionbridge.core.models import Month, SubmissionState
from fusionbridge.core.outcomes import OUTCOME_NAMES, Failed, Rejected, Unconfirmed
from fusionbridge.jobs.sources import own_requests
from fusionbridge.logs import get_logger
from fusionbridge.redex.daily import DeviceOutcome, submit_days
from fusionbridge.redex.daily_wire import DeviceDays, dumps_batch
from fusionbridge.store import Ledger
from fusionbridge.store.day_submissions import DayRecordOut

log = get_logger(__name__)


@dataclass(frozen=True)
class DailyPushReport:
    """What the daily side sent: records by outcome, requests made, standing problem days."""

    records: int
    requests: int
    sent: int
    rejected: int
    failed: int
    pending: int
    unconfirmed: int
    held: int


async def daily_plans(
    ledger: Ledger,
    inverters: Sequence[ResolvedInverter],
    now: datetime,
    window_months: int,
    *,
    forced: Month | None = None,
) -> list[InverterDays]:
    """Plan every daily inverter from the ledger (readings, day records, baselines) and `now`."""
    daily = [inv for inv in inverters if inv.target.daily]
    if not daily:
        return []
    values = await ledger.days.day_values({inv.source for inv in daily})
    records: dict[str, dict[date, DayFacts]] = {}
    for record in await ledger.days.day_submissions([inv.remote_inv_id for inv in daily]):
        records.setdefault(record.remote_inv_id, {})[record.day] = DayFacts(
            state=record.state,
            kwh_sent=record.kwh_sent,
            accumulated_sent=record.accumulated_sent,
            accepted_kwh=record.accepted_kwh,
            accepted_accumulated=record.accepted_accumulated,
            process_id=record.process_id,
            processing_status=record.processing_status,
            last_error=record.last_error,
        )
    baselines = await ledger.days.baselines()
    inputs = []
    for inv in daily:
        baseline = baselines.get(inv.remote_inv_id)
        inputs.append(
            DailyInverter(
                target=inv.target,
                capacity_kw=inv.capacity_kwp,
                anchor_day=baseline.anchor_day if baseline else None,
                opening_kwh=baseline.opening_kwh if baseline else None,
                values=values.get(inv.source, {}),
                records=records.get(inv.remote_inv_id, {}),
            )
        )
    # A year of days for many inverters is seconds of pure work: off the loop, so /livez answers.
    return await asyncio.to_thread(
        lambda: [plan_inverter(i, now, window_months, forced=forced) for i in inputs]
    )


def _plans(
    rt: Runtime, inverters: Sequence[ResolvedInverter], forced: Month | None = None
) -> Awaitable[list[InverterDays]]:
    window = rt.settings.schedule.correction_window_months
    return daily_plans(rt.ledger, inverters, rt.clock.now(), window, forced=forced)


async def recover_days(rt: Runtime) -> None:
    """Requests a crash left open may have reached REDEX: their days go out once more."""
    reason = "interrupted before REDEX answered; sending once more"
    mine = own_requests(rt)
    for request_id in await rt.ledger.days.recover_day_requests(rt.clock.now(), reason, mine):
        log.warning("push.days_recovered", request_id=request_id)


async def push_days(
    rt: Runtime,
    inverters: Sequence[ResolvedInverter],
    *,
    month: Month | None = None,
    force: bool = False,
    dry_run: bool = False,
    out: TextIO | None = None,
) -> DailyPushReport:
    """Send the due days of every daily inverter in the fewest requests REDEX allows."""
    plans = await _plans(rt, inverters, month if force else None)
    if month is not None:
        plans = [
            InverterDays(
                p.remote_inv_id, p.lines, tuple(r for r in p.send if Month.of(r.day) == month)
            )
            for p in plans
        ]
    requests = [
        [
            DeviceDays(inv, tuple((r.day, r.kwh, r.accumulated_kwh) for r in records))
            for inv, records in request
        ]
        for request in split_requests(plans, rt.settings.redex_settings().daily_batch_records)
    ]
    records = sum(len(p.send) for p in plans)
    held = sum(1 for p in plans for line in p.lines if line.state is SubmissionState.HELD)
    if dry_run:
        for request in requests:
            print(dumps_batch(request), file=out)
        return DailyPushReport(records, len(requests), 0, 0, 0, 0, 0, held)
    request_id: dict[str, int] = {}

    async def before_send(devices: Sequence[DeviceDays]) -> None:
        rows = [
            DayRecordOut(d.remote_inv_id, day, kwh, acc)
            for d in devices
            for day, kwh, acc in d.records
        ]
        request_id["id"] = await rt.ledger.days.begin_day_request(
            rows, dumps_batch(devices), rt.clock.now()
        )

    async def after_send(
        outcomes: Sequence[DeviceOutcome], received: tuple[int, str] | None
    ) -> None:
        if received is not None:  # evidence: REDEX's answer as received (SPEC §15)
            await rt.ledger.day_evidence.record_day_answer(
                request_id["id"], *received, rt.clock.now()
            )
        by_inverter = {o.device.remote_inv_id: o.outcome for o in outcomes}
        await rt.ledger.days.finish_day_request(request_id["id"], by_inverter, rt.clock.now())
        for o in outcomes:
            if isinstance(o.outcome, Rejected | Failed | Unconfirmed):
                log.warning(
                    "push.days_refused",
                    inverter=o.device.remote_inv_id,
                    days=len(o.device.records),
                    outcome=OUTCOME_NAMES[type(o.outcome)],
                    error=o.outcome.message,
                )

    outcomes = (
        await submit_days(rt.redex, requests, before_send=before_send, after_send=after_send)
        if requests
        else []
    )
    counts = {
        status: sum(
            len(o.device.records) for o in outcomes if OUTCOME_NAMES[type(o.outcome)] == status
        )
        for status in ("sent", "rejected", "failed", "pending", "unconfirmed")
    }
    log.info("push.days_finished", records=records, **counts)
    return DailyPushReport(
        records=records,
        requests=len(requests),
        sent=counts["sent"],
        rejected=counts["rejected"],
        failed=counts["failed"],
        pending=counts["pending"] + records - sum(counts.values()),
        unconfirmed=counts["unconfirmed"],
        held=held,
    )


async def standing_day_problems(
    rt: Runtime, inverters: Sequence[ResolvedInverter], held: int
) -> int:
    """Days that stand rejected, failed, unconfirmed (from the ledger) or held (from the plan)."""
    daily = [inv.remote_inv_id for inv in inverters if inv.target.daily]
    return held + (await rt.ledger.days.day_problem_count(daily) if daily else 0)
