"""One coroutine per CLI command; each composes settings, ledger and clients for one job."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from fusionbridge.app import open_runtime
from fusionbridge.core.models import Device, Plant, SubmissionState
from fusionbridge.daemon.status import ledger_status, status_document, status_table
from fusionbridge.errors import FusionBridgeError
from fusionbridge.jobs import push as push_job
from fusionbridge.jobs import sync as sync_job
from fusionbridge.jobs.lease import DEFAULT_LEASE_WAIT_S, command_lease, print_waiting
from fusionbridge.jobs.redex_gate import redex_turn
from fusionbridge.jobs.sources import load_inventory, nothing_configured, resolve
from fusionbridge.logs import get_logger
from fusionbridge.settings import DEFAULT_ACCOUNT, Settings
from fusionbridge.store import Ledger

log = get_logger(__name__)


def _lease_wait(args: argparse.Namespace) -> float:
    """`--lease-wait`, or its default for callers that build the arguments themselves."""
    wait: float = getattr(args, "lease_wait", DEFAULT_LEASE_WAIT_S)
    return wait


async def run(settings: Settings, args: argparse.Namespace) -> int:
    """`run`: the daemon, until SIGTERM/SIGINT (0) or a ledger it cannot use (1)."""
    del args
    from fusionbridge.daemon.service import serve_daemon

    return await serve_daemon(settings)


async def sync(settings: Settings, args: argparse.Namespace) -> int:
    """`sync [--from] [--to] [--days]`: fetch into the ledger; never pushes."""
    if args.first and args.last and args.last < args.first:
        print("fusionbridge: error: --to is before --from", file=sys.stderr)
        return 2
    if nothing_configured(settings, "sync"):
        return 0
    async with open_runtime(settings) as rt, command_lease(rt, _lease_wait(args)):
        report = await sync_job.sync(rt, first=args.first, last=args.last, days=args.days)
    print(
        f"synced {report.month_values} month values and {report.day_values} day values "
        f"({report.changed} new or changed) in {report.calls} FusionSolar calls"
    )
    if report.unreachable:
        months = ", ".join(str(m) for m in report.unreachable)
        print(f"not fetched: {months} (FusionSolar serves only the last 365 days)")
    for finding in report.findings:
        print(f"check: {finding.source} {finding.period}: {finding.message}")
    return 0


async def push(settings: Settings, args: argparse.Namespace) -> int:
    """`push [--month] [--dry-run] [--force] [--wait]`: submit due months and follow them."""
    if args.force and args.month is None:
        print("fusionbridge: error: --force needs --month YYYY-MM", file=sys.stderr)
        return 2
    if nothing_configured(settings, "push"):
        return 0
    if getattr(args, "inverter", None) is not None and args.inverter not in {
        i.remote_inv_id for i in settings.inverters
    }:
        print(f"fusionbridge: error: --inverter {args.inverter} is not configured", file=sys.stderr)
        return 2
    async with open_runtime(settings) as rt:
        if args.dry_run:
            report = await push_job.push(
                rt, month=args.month, inverter=getattr(args, "inverter", None), dry_run=True
            )
        else:
            wait_s = _lease_wait(args)
            async with (
                command_lease(rt, wait_s),
                redex_turn(rt, "push", wait_s=wait_s, on_wait=print_waiting(wait_s)),
            ):
                report = await push_job.push(
                    rt,
                    month=args.month,
                    inverter=getattr(args, "inverter", None),
                    force=args.force,
                    wait_s=args.wait,
                )
    if args.dry_run:
        for held in report.held:
            print(f"held: {held.remote_inv_id} {held.month}: {held.reason}", file=sys.stderr)
        print(f"dry run: {report.items} items would be sent", file=sys.stderr)
        return 0
    print(
        f"pushed {report.items} items: {report.sent} sent, {report.rejected} rejected, "
        f"{report.failed} failed, {report.unconfirmed} unconfirmed, {report.pending} pending; "
        f"{report.accepted} processes accepted, {report.processing} still processing"
    )
    if report.days:  # daily-registered inverters (SPEC §11)
        print(f"pushed {report.days} days: {report.days_sent} sent")
    for drift in report.drift:
        print(
            f"drift: {drift.remote_inv_id} {drift.month} changed by {drift.difference_kwh} kWh "
            f"after it was frozen; send it with: push --month {drift.month} --force"
        )
    if report.pending:
        print(
            f"{report.pending} items could not be sent (REDEX unreachable or throttling); "
            "the next push sends them"
        )
    for record in report.problems:
        hint = _PROBLEM_HINTS[record.state].format(month=record.month, inv=record.remote_inv_id)
        print(
            f"{record.state.value}: {record.remote_inv_id} {record.month}: "
            f"{record.last_error or 'no reason recorded'}; {hint}"
        )
    if report.standing_problems:
        print(
            f"{report.standing_problems} inverter-months stand rejected, failed, held or "
            "unconfirmed: see `fusionbridge status`"
        )
    return 1 if report.pending or report.standing_problems else 0


_PROBLEM_HINTS = {
    SubmissionState.HELD: "after checking it, send it with: "
    "push --month {month} --inverter {inv} --force",
    SubmissionState.UNCONFIRMED: "REDEX may hold it; the next push sends it once more "
    "(after that only: push --month {month} --inverter {inv} --force)",
    SubmissionState.FAILED: "re-sent when its value changes, or with: "
    "push --month {month} --inverter {inv} --force",
    SubmissionState.REJECTED: "REDEX refused it; fix it at REDEX, the next push re-sends it",
}


async def authorize(settings: Settings, args: argparse.Namespace) -> int:
    """`authorize [--code CODE]`: obtain the owner's OAuth tokens and store them in the ledger."""
    from fusionbridge.cli.authorize import authorize as run_authorize

    return await run_authorize(settings, code=args.code)


async def status(settings: Settings, args: argparse.Namespace) -> int:
    """`status [--json] [--account]`: the ledger per remote inverter and month, no network."""
    from fusionbridge.app import fleet_view
    from fusionbridge.clock import SystemClock
    from fusionbridge.daemon.status import account_lines

    account = getattr(args, "account", None)  # checked by the command line
    names = settings.account_names()
    view = fleet_view(settings) if account is None else settings.for_account(account)
    clock = SystemClock()
    async with Ledger.open(settings.storage, clock) as ledger:
        lines = await ledger_status(view, ledger, clock.now())
        accounts = await account_lines(
            ledger, names if account is None else [account], settings.storage.lease_ttl_s
        )
    if args.json:
        print(json.dumps(status_document(lines) | {"accounts": accounts}, indent=2))
    else:
        for name, facts in accounts.items():
            print(
                f"account {name}: last worked by {facts['last_worked_by'] or 'nobody yet'}"
                + (f" at {facts['last_worked_at']}" if facts["last_worked_at"] else "")
                + (f"; lease held by {facts['lease_holder']}" if facts["lease_holder"] else "")
            )
        print(status_table(lines))
    return 0


async def evidence(settings: Settings, args: argparse.Namespace) -> int:
    """`evidence --month --out`: see fusionbridge.evidence.commands."""
    from fusionbridge.evidence import commands

    return await commands.evidence(settings, args)


async def export(settings: Settings, args: argparse.Namespace) -> int:
    """`export [--from] [--to] [--days] [--format]`: see fusionbridge.evidence.commands."""
    from fusionbridge.evidence import commands

    return await commands.export(settings, args)


async def notify(settings: Settings, args: argparse.Namespace) -> int:
    """`notify --test`: see fusionbridge.notify.commands."""
    from fusionbridge.notify import commands

    return await commands.notify_test(settings, args)


async def check(settings: Settings, args: argparse.Namespace) -> int:
    """`check`: config, one FusionSolar login and inventory, every source, a REDEX token."""
    ok = True

    def report(good: bool, text: str) -> None:
        nonlocal ok
        ok = ok and good
        print(f"{'ok  ' if good else 'FAIL'} {text}")

    report(True, f"configuration valid ({len(settings.inverters)} inverters)")
    async with open_runtime(settings) as rt, command_lease(rt, _lease_wait(args)):
        try:
            inventory = await load_inventory(rt, refresh=True)
            inverters = sum(1 for d in inventory.devices if d.is_inverter)
            report(
                bool(inventory.plants),
                f"FusionSolar login and inventory: {len(inventory.plants)} plants, {inverters} inverters"
                + ("" if inventory.plants else " (no plant is bound to this API account)"),
            )
            resolution = await resolve(rt, inventory)
            for problem in resolution.problems:
                report(False, problem)
            if not resolution.problems:
                report(True, f"every configured source found ({len(resolution.inverters)})")
        except FusionBridgeError as exc:
            report(False, f"FusionSolar: {exc}")
        try:
            await rt.redex.check_token()
            report(True, "REDEX token obtained")
        except FusionBridgeError as exc:
            report(False, f"REDEX: {exc}")
    return 0 if ok else 1


DEVICE_TYPES = {
    1: "string inverter",
    2: "SmartLogger",
    10: "EMI",
    17: "grid meter",
    38: "residential inverter",
    39: "battery",
    41: "ESS",
    46: "optimizer",
    47: "power sensor",
    62: "dongle",
    23070: "EMMA",
}


async def discover(settings: Settings, args: argparse.Namespace) -> int:
    """`discover [--toml]`: what the FusionSolar account holds, to write `[[inverters]]` from."""
    async with open_runtime(settings) as rt, command_lease(rt, _lease_wait(args)):
        inventory = await load_inventory(rt, refresh=True)
        listed_at = rt.clock.now()
    if args.toml:
        table = "inverters" if settings.account == DEFAULT_ACCOUNT else "accounts.inverters"
        print(
            inverters_toml(
                inventory.plants, inventory.devices, settings.zone(), listed_at, table=table
            )
        )
    else:
        print(inventory_table(inventory.plants, inventory.devices))
    return 0


def inventory_table(plants: Sequence[Plant], devices: Sequence[Device]) -> str:
    """One row per device (plants without devices get one row), aligned for a terminal."""
    header = ("PLANT CODE", "PLANT NAME", "CAPACITY kWp", "DEVICE ID", "ESN", "TYPE", "MODEL")
    rows: list[tuple[str, ...]] = []
    by_plant: dict[str, list[Device]] = {}
    for device in devices:
        by_plant.setdefault(device.plant_code, []).append(device)
    for plant in plants:
        capacity = "" if plant.capacity_kwp is None else f"{plant.capacity_kwp.normalize():f}"
        listed = by_plant.pop(plant.code, [])
        rows.extend((plant.code, plant.name, capacity, *_device_cells(d)) for d in listed)
        if not listed:
            rows.append((plant.code, plant.name, capacity, "", "", "", ""))
    for code, orphans in by_plant.items():
        rows.extend((code, "", "", *_device_cells(d)) for d in orphans)
    widths = [max(len(r[i]) for r in (header, *rows)) for i in range(len(header))]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip()
        for r in (header, *rows)
    ]
    inverters = sum(1 for d in devices if d.is_inverter)
    lines.append(f"{len(plants)} plants, {len(devices)} devices, {inverters} inverters")
    return "\n".join(lines)


def _device_cells(device: Device) -> tuple[str, str, str, str]:
    kind = DEVICE_TYPES.get(device.type_id, "device")
    return str(device.id), device.esn or "", f"{device.type_id} {kind}", device.model or ""


def inverters_toml(
    plants: Sequence[Plant],
    devices: Sequence[Device],
    zone: ZoneInfo,
    listed_at: datetime,
    *,
    table: str = "inverters",
) -> str:
    """An `[[inverters]]` entry per inverter (`[[accounts.inverters]]` under an account), its
    REDEX id left for the operator to fill in."""
    names = {p.code: p for p in plants}
    inverters = [d for d in devices if d.is_inverter]
    out = [
        f"# Inverters listed by FusionSolar on {listed_at:%Y-%m-%d %H:%M} UTC.",
        "# Replace every remote_inv_id with the inverter's RemoteInvId in REDEX and delete the",
        "# entries you do not submit; each must appear once.",
    ]
    if not inverters:
        out.append("# (no inverter found: are the plants bound to this API account?)")
    for number, device in enumerate(inverters, start=1):
        plant = names.get(device.plant_code)
        source = f"esn = {_toml_string(device.esn)}" if device.esn else f"device_id = {device.id}"
        where = f"plant {device.plant_code}"
        if plant is not None:
            where += f" {_toml_string(plant.name)}"
        details = ", ".join(
            part for part in (where, device.model, f"device id {device.id}") if part
        )
        out += [
            "",
            f"[[{table}]]",
            f'remote_inv_id = "FILL-IN-REMOTE-INV-ID-{number:03d}"',
            source,
            f"# {_one_line(details)}",
        ]
        offset_note = _zone_hint(plant, zone)
        if offset_note:
            out.append(offset_note)
    return "\n".join(out)


def _zone_hint(plant: Plant | None, zone: ZoneInfo) -> str | None:
    """A comment when the plant reports a UTC offset the configured zone did not have then."""
    if plant is None or not plant.grid_connection_date:
        return None
    try:
        connected = datetime.fromisoformat(plant.grid_connection_date)
    except ValueError:
        return None
    offset, local = connected.utcoffset(), connected.astimezone(zone)
    summer, dst = local.utcoffset(), local.dst()
    # Plants often report their standard offset all year, so that counts as a match too.
    standard = None if summer is None or dst is None else summer - dst
    if offset is None or offset in (summer, standard):
        return None
    hours = offset.total_seconds() / 3600
    return (
        f'# timezone = "..."  # the plant reports UTC{hours:+g}, unlike {zone.key}: '
        "set its IANA zone here"
    )


def _toml_string(text: str) -> str:
    return json.dumps(text, ensure_ascii=True)


def _one_line(text: str) -> str:
    return " ".join(text.split())


async def probe(settings: Settings, args: argparse.Namespace) -> int:
    """`probe [--plant CODE] [--json]`: the communication test; 0 only if every step worked."""
    from fusionbridge.cli.probe import probe_command

    return await probe_command(settings, args)
