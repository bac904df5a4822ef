"""push: send due, unsent or changed months to REDEX, then follow their processing."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TextIO

from fusionbridge.jobs.sources import ledger_view, require_all, resolve
from fusionbridge.logs import get_logger
from fusionbridge.mapping import Target
from fusionbridge.models import Month, SubmissionState, round_kwh
from fusionbridge.push_plan import Drift, PushItem, plan_push
from fusionbridge.redex.client import ItemOutcome
from fusionbridge.redex.wire import MonthlyItem, batches, dumps_payload
from fusionbridge.runtime import Runtime
from fusionbridge.store.submissions import Failed, Pending, Rejected, Sent

log = get_logger(__name__)


STANDING_PROBLEMS = (SubmissionState.REJECTED, SubmissionState.FAILED)
KNOWN_STATUSES = frozenset({"New", "Processing", "Success", "Failed"})


@dataclass(frozen=True)
class PushReport:
    """What one push sent and learnt; `standing_problems` makes `push` exit 1."""

    items: int
    sent: int
    rejected: int
    failed: int
    pending: int
    accepted: int
    processing: int
    drift: tuple[Drift, ...]
    standing_problems: int
    not_due: tuple[str, ...] = ()


# --- push ---------------------------------------------------------------------------------------


def monthly_item(item: PushItem) -> MonthlyItem:
    """The REDEX item for a planned (inverter, year): months not due stay null."""
    return MonthlyItem(
        item.remote_inv_id,
        item.year,
        {number: value for number, value in enumerate(item.values, start=1) if value is not None},
    )


def _months_of(item: MonthlyItem) -> list[tuple[str, Month, Decimal]]:
    return [
        (item.remote_inv_id, Month(item.year, number), round_kwh(value))
        for number, value in sorted(item.kwh.items())
        if value is not None
    ]


def _ledger_outcome(outcome: ItemOutcome) -> Sent | Rejected | Failed | Pending:
    if outcome.status == "sent" and outcome.process_id is not None:
        return Sent(outcome.process_id)
    if outcome.status == "rejected":
        return Rejected(outcome.message or "rejected by REDEX")
    if outcome.status == "failed":
        return Failed(outcome.message or "refused by REDEX")
    return Pending(outcome.message or "no answer from REDEX")


async def push(
    rt: Runtime,
    *,
    month: Month | None = None,
    force: bool = False,
    dry_run: bool = False,
    wait_s: float = 120.0,
    out: TextIO | None = None,
) -> PushReport:
    """Send every due, unsent or changed month, then follow REDEX processing for up to `wait_s`."""
    settings = rt.settings
    if not settings.inverters:
        log.warning("push.nothing_configured")
    if not dry_run:
        await _recover(rt)
        await _poll(rt, await rt.ledger.open_process_ids(), wait_s=0)
    # The months to send are in the ledger: a FusionSolar outage must not hold REDEX back.
    cached = await rt.ledger.inventory()
    resolution = await resolve(
        rt, cached if cached.refreshed_at is not None else None, refresh_missing=False
    )
    inverters = resolution.inverters
    targets = [Target.from_settings(e, settings.timezone) for e in settings.inverters]
    now = rt.clock.now()
    plan = plan_push(
        targets, await ledger_view(rt, inverters), now, settings.schedule, month=month, force=force
    )
    if not dry_run:
        await _record_drift(rt, plan.drift)
    for remote_inv_id in plan.not_due:
        log.warning("push.month_not_due", inverter=remote_inv_id, month=str(month))
    items = [monthly_item(i) for i in plan.items]
    if dry_run:
        for batch in batches(items, settings.redex.batch_size):
            print(dumps_payload(batch), file=out)
        return PushReport(len(items), 0, 0, 0, 0, 0, 0, plan.drift, 0, plan.not_due)

    request: dict[str, int] = {}

    async def before_send(batch: Sequence[MonthlyItem]) -> None:
        months = [row for item in batch for row in _months_of(item)]
        request["id"] = await rt.ledger.begin_request(months, dumps_payload(batch), rt.clock.now())

    async def after_send(outcomes: Sequence[ItemOutcome]) -> None:
        per_month = {
            (inv, m): _ledger_outcome(outcome)
            for outcome in outcomes
            for inv, m, _ in _months_of(outcome.item)
        }
        await rt.ledger.finish_request(request["id"], per_month, rt.clock.now())
        answered = next((o.answer for o in outcomes if o.answer is not None), None)
        if answered is not None:  # evidence: the answer as received (SPEC §15)
            await rt.ledger.record_answer(request["id"], *answered, rt.clock.now())
        for outcome in outcomes:
            if outcome.status in ("rejected", "failed"):
                log.warning(
                    "push.item_refused",
                    inverter=outcome.item.remote_inv_id,
                    year=outcome.item.year,
                    outcome=outcome.status,
                    error=outcome.message,
                )

    outcomes = (
        await rt.redex.submit(items, before_send=before_send, after_send=after_send)
        if items
        else []
    )
    counts = {
        s: sum(1 for o in outcomes if o.status == s)
        for s in ("sent", "rejected", "failed", "pending")
    }
    statuses = await _poll(rt, await rt.ledger.open_process_ids(), wait_s=wait_s)
    records = await rt.ledger.submissions([t.remote_inv_id for t in targets])
    report = PushReport(
        items=len(items),
        sent=counts["sent"],
        rejected=counts["rejected"],
        failed=counts["failed"],
        pending=counts["pending"],
        accepted=sum(1 for s in statuses.values() if s == "Success"),
        processing=sum(1 for s in statuses.values() if s not in ("Success", "Failed")),
        drift=plan.drift,
        standing_problems=sum(1 for r in records if r.state in STANDING_PROBLEMS),
        not_due=plan.not_due,
    )
    log.info(
        "push.finished",
        items=report.items,
        sent=report.sent,
        rejected=report.rejected,
        failed=report.failed,
        pending=report.pending,
        accepted=report.accepted,
        processing=report.processing,
        standing_problems=report.standing_problems,
    )
    require_all(resolution)
    return report


async def _recover(rt: Runtime) -> None:
    """Close requests a crash left open: their months are due again and go out once more."""
    for request in await rt.ledger.in_flight():
        await rt.ledger.abandon_request(
            request.id, rt.clock.now(), "interrupted before REDEX answered; sending again"
        )
        log.warning("push.recovered", request_id=request.id, months=len(request.items))


async def _poll(rt: Runtime, process_ids: Sequence[int], *, wait_s: float) -> dict[int, str]:
    """Follow processing to Success/Failed within `wait_s`, recording every status seen."""
    if not process_ids:
        return {}

    async def seen(process_id: int, status: str, text: str) -> None:
        await rt.ledger.record_status(process_id, status, text, rt.clock.now())

    statuses = await rt.redex.follow(process_ids, wait_s=wait_s, on_status=seen)
    for process_id, status in statuses.items():
        if status not in KNOWN_STATUSES:  # no poll got an answer: keep what the ledger has
            continue
        message = "REDEX processing ended Failed" if status == "Failed" else None
        settled = await rt.ledger.record_processing(process_id, status, rt.clock.now(), message)
        for inverter, month in settled:
            event = "push.accepted" if status == "Success" else "push.rejected"
            log.info(event, inverter=inverter, month=str(month), process_id=process_id)
    return statuses


async def _record_drift(rt: Runtime, drift: Sequence[Drift]) -> None:
    now = rt.clock.now()
    current = {(d.remote_inv_id, d.month): d.difference_kwh for d in drift}
    for record in await rt.ledger.submissions():
        key = (record.remote_inv_id, record.month)
        wanted = current.get(key)
        if wanted != record.drift_kwh:
            await rt.ledger.set_drift(record.remote_inv_id, record.month, wanted, now)
            if wanted is not None:
                log.warning(
                    "push.drift",
                    inverter=record.remote_inv_id,
                    month=str(record.month),
                    drift_kwh=str(wanted),
                )
