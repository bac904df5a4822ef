"""push: send due, unsent or changed months to REDEX, then follow their processing.

The job owns the batch loop: the plan's items are encoded once, those exact bytes are logged in
the ledger, the client POSTs those bytes, and the wire's outcome is recorded per month. Nothing
about one item stops the others: a value failing a hard check is held, a refused item is
recorded and the rest of its request re-sent, and only a REDEX that provably took nothing halts
the remaining batches.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TextIO

from fusionbridge.app import Runtime
from fusionbridge.core.inverters import Target
from fusionbridge.core.models import Month, SubmissionState
from fusionbridge.core.outcomes import (
    OUTCOME_NAMES,
    Failed,
    Outcome,
    Pending,
    Rejected,
    Sent,
    Unconfirmed,
)
from fusionbridge.core.push_plan import Drift, Held, PushItem, plan_push
from fusionbridge.errors import CredentialsError
from fusionbridge.jobs.push_daily import push_days, recover_days, standing_day_problems
from fusionbridge.jobs.sources import (
    ledger_view,
    nothing_configured,
    own_requests,
    require_all,
    resolve,
)
from fusionbridge.logs import get_logger
from fusionbridge.redex import wire
from fusionbridge.store.submissions import SubmissionRecord

log = get_logger(__name__)


STANDING_PROBLEMS = (
    SubmissionState.REJECTED,
    SubmissionState.FAILED,
    SubmissionState.HELD,
    SubmissionState.UNCONFIRMED,
)
"""States that make `push` exit 1 until they are resolved (SPEC §6, §10)."""
DAILY_HINT = 'registered Daily at REDEX: set frequency = "daily" for this inverter'
"""What a monthly item refused with `{Daily}` tells the operator (SPEC §11); never switched."""
KNOWN_STATUSES = frozenset({"New", "Processing", "Success", "Failed"})


_NOT_SENT_EVENTS: dict[type, str] = {
    Rejected: "push.item_refused",
    Failed: "push.item_refused",
    Unconfirmed: "push.item_unconfirmed",
    Pending: "push.item_pending",
}


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
    unconfirmed: int = 0
    held: tuple[Held, ...] = ()
    problems: tuple[SubmissionRecord, ...] = ()
    days: int = 0  # daily records planned (SPEC §11)
    days_sent: int = 0


async def push(
    rt: Runtime,
    *,
    month: Month | None = None,
    inverter: str | None = None,
    force: bool = False,
    dry_run: bool = False,
    wait_s: float = 120.0,
    out: TextIO | None = None,
) -> PushReport:
    """Send every due, unsent or changed month, then follow REDEX processing for up to `wait_s`."""
    settings = rt.settings
    nothing_configured(settings, "push")
    if not dry_run:
        if rt.lease is not None:  # only the lease holder may decide that a request was orphaned
            await _recover(rt)
            await recover_days(rt)
        await _poll(rt, await _open_ids(rt), wait_s=0)
    # The months to send are in the ledger: a FusionSolar outage must not hold REDEX back.
    cached = await rt.ledger.inventory.load()
    resolution = await resolve(
        rt, cached if cached.refreshed_at is not None else None, refresh_missing=False
    )
    targets = [
        t
        for t in (Target.from_entry(e.entry(), settings.timezone) for e in settings.inverters)
        if not t.daily  # daily inverters send days (jobs.push_daily), never months
    ]
    plan = plan_push(
        targets,
        await ledger_view(rt, resolution.inverters),
        rt.clock.now(),
        settings.schedule.rules(),
        capacities={i.remote_inv_id: i.capacity_kwp for i in resolution.inverters},
        month=month,
        inverter=inverter,
        force=force,
    )
    for remote_inv_id in plan.not_due:
        log.warning("push.month_not_due", inverter=remote_inv_id, month=str(month))
    if dry_run:
        for batch in wire.batches(plan.items, settings.redex_settings().batch_size):
            print(wire.encode(batch), file=out)
        days = await push_days(
            rt, resolution.inverters, month=month, force=force, dry_run=True, out=out
        )
        return PushReport(
            len(plan.items),
            0,
            0,
            0,
            0,
            0,
            0,
            plan.drift,
            0,
            plan.not_due,
            held=plan.held,
            days=days.records,
        )
    await _record_drift(rt, plan.drift)
    await _record_held(rt, plan.held)
    counts = await _send(rt, plan.items)
    days = await push_days(rt, resolution.inverters, month=month, force=force)
    statuses = await _poll(rt, await _open_ids(rt), wait_s=wait_s)
    records = await rt.ledger.submissions.records([t.remote_inv_id for t in targets])
    problems = tuple(r for r in records if r.state in STANDING_PROBLEMS)
    report = PushReport(
        items=len(plan.items),
        sent=counts["sent"],
        rejected=counts["rejected"],
        failed=counts["failed"],
        pending=counts["pending"] + days.pending,
        unconfirmed=counts["unconfirmed"],
        accepted=sum(1 for s in statuses.values() if s == "Success"),
        processing=sum(1 for s in statuses.values() if s not in ("Success", "Failed")),
        drift=plan.drift,
        standing_problems=len(problems)
        + await standing_day_problems(rt, resolution.inverters, days.held),
        not_due=plan.not_due,
        held=plan.held,
        problems=problems,
        days=days.records,
        days_sent=days.sent,
    )
    log.info(
        "push.finished",
        items=report.items,
        sent=report.sent,
        rejected=report.rejected,
        failed=report.failed,
        pending=report.pending,
        unconfirmed=report.unconfirmed,
        held=len(report.held),
        accepted=report.accepted,
        processing=report.processing,
        standing_problems=report.standing_problems,
    )
    require_all(resolution)
    return report


async def _send(rt: Runtime, items: Sequence[PushItem]) -> Counter[str]:
    """Each batch: encode once → log those bytes → POST them → record the outcome per month."""
    counts: Counter[str] = Counter()
    halted: str | None = None
    for batch in wire.batches(items, rt.settings.redex_settings().batch_size):
        remaining = batch
        while remaining and halted is None:
            if rt.lease is not None:
                rt.lease.ensure()
            body = wire.encode(remaining)
            rows = [row for item in remaining for row in item.rows()]
            request_id = await rt.ledger.submissions.begin_request(rows, body, rt.clock.now())
            try:
                answer, received = await rt.redex.post_monthly(body)
            except CredentialsError as exc:  # a 401 took nothing: the months stay due
                refused = {key[:2]: Pending(str(exc)) for key in rows}
                await rt.ledger.submissions.finish_request(request_id, refused, rt.clock.now())
                raise
            if received is not None:  # evidence: REDEX's answer as received (SPEC §15)
                await rt.ledger.redex_log.record_answer(request_id, *received, rt.clock.now())
            decided, remaining = _per_item(answer, remaining)
            decided = [(item, _with_hint(outcome)) for item, outcome in decided]
            per_month = {
                (inv, month): outcome for item, outcome in decided for inv, month, _ in item.rows()
            }
            await rt.ledger.submissions.finish_request(request_id, per_month, rt.clock.now())
            for item, outcome in decided:
                if item in remaining:
                    continue  # re-sent at once without the items a 422 named
                counts[OUTCOME_NAMES[type(outcome)]] += 1
                _log_outcome(item, outcome)
            if isinstance(answer, Pending):
                halted = answer.message  # REDEX took nothing: later batches would fare alike
    counts["pending"] += len(items) - sum(counts.values())  # never sent: still due
    return counts


def _per_item(
    answer: wire.MonthlyAnswer, items: list[PushItem]
) -> tuple[list[tuple[PushItem, Outcome]], list[PushItem]]:
    """The outcome of every month in the request; those re-sent after a 422 are pending here."""
    decided, rest = wire.per_item(answer, items)
    resend = Pending("re-sent without the items REDEX refused")
    return decided + [(item, resend) for item in rest], rest


def _with_hint(outcome: Outcome) -> Outcome:
    """A month refused because REDEX registered the inverter Daily says what line to add."""
    if isinstance(outcome, Rejected) and "{Daily}" in outcome.message:
        return Rejected(f"{outcome.message}; {DAILY_HINT}")
    return outcome


def _log_outcome(item: PushItem, outcome: Outcome) -> None:
    if isinstance(outcome, Sent):
        log.info("push.item_sent", inverter=item.remote_inv_id, year=item.year)
    else:
        log.warning(
            _NOT_SENT_EVENTS[type(outcome)],
            inverter=item.remote_inv_id,
            year=item.year,
            outcome=OUTCOME_NAMES[type(outcome)],
            error=outcome.message,
        )


async def _recover(rt: Runtime) -> None:
    """Close requests a dead holder left open: their months are unconfirmed and go out once more.

    Runs under the account lease, so every request still open belongs to a process that died.
    """
    for request in await rt.ledger.submissions.in_flight(own_requests(rt)):
        await rt.ledger.submissions.abandon_request(
            request.id, rt.clock.now(), "interrupted before REDEX answered; sending once more"
        )
        log.warning("push.recovered", request_id=request.id, months=len(request.items))


async def _poll(rt: Runtime, process_ids: Sequence[int], *, wait_s: float) -> dict[int, str]:
    """Follow processing to Success/Failed within `wait_s`, recording every status seen."""
    if not process_ids:
        return {}

    async def seen(process_id: int, status: str, text: str) -> None:
        await rt.ledger.redex_log.record_status(process_id, status, text, rt.clock.now())

    statuses = await rt.redex.follow(process_ids, wait_s=wait_s, on_status=seen)
    for process_id, status in statuses.items():
        if status not in KNOWN_STATUSES:  # no poll got an answer: keep what the ledger has
            continue
        message = "REDEX processing ended Failed" if status == "Failed" else None
        settled = await rt.ledger.submissions.record_processing(
            process_id, status, rt.clock.now(), message
        )
        await rt.ledger.days.record_day_processing(process_id, status, rt.clock.now(), message)
        for inverter, month in settled:
            event = "push.accepted" if status == "Success" else "push.failed"
            log.info(event, inverter=inverter, month=str(month), process_id=process_id)
    return statuses


async def _open_ids(rt: Runtime) -> list[int]:
    """ProcessIds still to follow, of months and of days alike."""
    mine = own_requests(rt)
    months = await rt.ledger.submissions.open_process_ids(mine)
    days = await rt.ledger.days.open_day_process_ids(mine)
    return sorted(set(months + days))


async def _record_held(rt: Runtime, held: Sequence[Held]) -> None:
    """Mark each held month in the ledger with its reason, so every view shows why."""
    for item in held:
        if await rt.ledger.submissions.hold(
            item.remote_inv_id, item.month, item.reason, rt.clock.now()
        ):
            log.warning(
                "push.held",
                inverter=item.remote_inv_id,
                month=str(item.month),
                kwh=str(item.kwh),
                reason=item.reason,
            )


async def _record_drift(rt: Runtime, drift: Sequence[Drift]) -> None:
    now = rt.clock.now()
    current = {(d.remote_inv_id, d.month): d.difference_kwh for d in drift}
    for record in await rt.ledger.submissions.records():
        key = (record.remote_inv_id, record.month)
        wanted = current.get(key)
        if wanted != record.drift_kwh:
            await rt.ledger.submissions.set_drift(record.remote_inv_id, record.month, wanted, now)
            if wanted is not None:
                log.warning(
                    "push.drift",
                    inverter=record.remote_inv_id,
                    month=str(record.month),
                    drift_kwh=str(wanted),
                )
