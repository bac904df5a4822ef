"""What the jobs work from: the cached inventory, resolved sources and the ledger's facts."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import timedelta
from decimal import Decimal

from fusionbridge.app import Runtime
from fusionbridge.core.due import LedgerView, MonthRecord
from fusionbridge.core.inverters import Resolution, ResolvedInverter, resolve_inverters
from fusionbridge.core.models import (
    EnergyReading,
    Month,
    SourceRef,
    SubmissionState,
)
from fusionbridge.errors import SourceNotFoundError
from fusionbridge.logs import get_logger
from fusionbridge.settings import DEFAULT_ACCOUNT, Settings
from fusionbridge.store.inventory import Inventory
from fusionbridge.store.submissions import SubmissionRecord

log = get_logger(__name__)


INVENTORY_MAX_AGE = timedelta(days=1)
"""Huawei's device list changes rarely and costs daily quota: refresh it at most daily."""
NOTHING_CONFIGURED_HINT = "add [[inverters]]; `fusionbridge discover --toml` lists them"


def nothing_configured(settings: Settings, work: str) -> bool:
    """Whether no inverter is configured, said once under one event name whatever the `work`."""
    if settings.inverters:
        return False
    log.warning("config.no_inverters", work=work, hint=NOTHING_CONFIGURED_HINT)
    return True


def own_requests(rt: Runtime) -> list[str] | None:
    """The remote inverters whose REDEX requests this account's push follows and recovers.

    A named account (SPEC §14) touches only its own: another account's request in flight
    belongs to that account's lease holder, who may be working right now. The Part I account
    owns the whole ledger (None), inverters since removed from the configuration included.
    """
    if rt.account == DEFAULT_ACCOUNT:
        return None
    return [inverter.remote_inv_id for inverter in rt.settings.inverters]


# --- inventory and mapping ---------------------------------------------------------------------


async def load_inventory(rt: Runtime, *, refresh: bool = False) -> Inventory:
    """The cached plant and device list, refreshed from FusionSolar when older than a day."""
    cached = await rt.ledger.inventory.load()
    now = rt.clock.now()
    fresh = cached.refreshed_at is not None and now - cached.refreshed_at < INVENTORY_MAX_AGE
    if fresh and not refresh:
        return cached
    plants = await rt.fusionsolar.plants()
    devices = await rt.fusionsolar.devices([p.code for p in plants]) if plants else []
    await rt.ledger.inventory.save(plants, devices, rt.clock.now())
    log.info("inventory.refreshed", plants=len(plants), devices=len(devices))
    return await rt.ledger.inventory.load()


async def resolve(
    rt: Runtime, inventory: Inventory | None = None, *, refresh_missing: bool = True
) -> Resolution:
    """Join every configured inverter to its FusionSolar source; misses are listed, not raised.

    One entry FusionSolar does not list must not hold back the certificates of all the others:
    the jobs work with what resolved and fail at the end (`require_all`), naming each miss.
    """
    settings = rt.settings
    if inventory is None:
        inventory = await load_inventory(rt)
    resolution = resolve_inverters(
        [e.entry() for e in settings.inverters],
        inventory.plants,
        inventory.devices,
        settings.timezone,
    )
    stale = inventory.refreshed_at is not None and (
        rt.clock.now() - inventory.refreshed_at > timedelta(hours=1)
    )
    if resolution.problems and stale and refresh_missing:
        # A newly installed inverter is missing from an older list: look once more.
        inventory = await load_inventory(rt, refresh=True)
        resolution = resolve_inverters(
            [e.entry() for e in settings.inverters],
            inventory.plants,
            inventory.devices,
            settings.timezone,
        )
    for problem in resolution.problems:
        log.error("inventory.source_not_found", problem=problem)
    return resolution


def require_all(resolution: Resolution) -> None:
    """Fail the job after its work is done when some entries named no known source."""
    if resolution.problems:
        raise SourceNotFoundError("; ".join(resolution.problems))


_REQUESTED = (
    SubmissionState.SENDING,
    SubmissionState.DUE,
    SubmissionState.UNCONFIRMED,
    SubmissionState.FAILED,
)


def month_record(reading: EnergyReading | None, record: SubmissionRecord | None) -> MonthRecord:
    """Planning's view of one inverter-month from the ledger's reading and submission record.

    While a month is being sent, due or unconfirmed after an attempt without a verdict, or
    failed, the value that counts is the one last requested, not the last one REDEX acknowledged.
    """
    sent: Decimal | None = None
    if record is not None:
        sent = record.requested_kwh if record.state in _REQUESTED else record.value_sent
    return MonthRecord(
        kwh=reading.kwh if reading else None,
        fetched_at=reading.fetched_at if reading else None,
        state=record.state if record else None,
        sent_kwh=sent,
        accepted_kwh=record.accepted_kwh if record else None,
        unconfirmed_runs=record.unconfirmed_runs if record else 0,
    )


async def ledger_view(rt: Runtime, inverters: Sequence[ResolvedInverter]) -> LedgerView:
    """Per remote inverter and month: the value known, and what was sent and accepted."""
    readings = await rt.ledger.energy.monthly({inv.source for inv in inverters})
    records = await rt.ledger.submissions.records([inv.remote_inv_id for inv in inverters])
    by_key = {(r.remote_inv_id, r.month): r for r in records}
    months_of: defaultdict[SourceRef | str, set[Month]] = defaultdict(set)
    for source, month in readings:
        months_of[source].add(month)
    for remote_inv_id, month in by_key:
        months_of[remote_inv_id].add(month)
    view: dict[str, dict[Month, MonthRecord]] = {}
    for inverter in inverters:
        months: dict[Month, MonthRecord] = {}
        for month in months_of[inverter.source] | months_of[inverter.remote_inv_id]:
            reading = readings.get((inverter.source, month))
            months[month] = month_record(reading, by_key.get((inverter.remote_inv_id, month)))
        view[inverter.remote_inv_id] = months
    return view
