"""One coroutine per CLI command; each composes settings, ledger and clients for one job."""

from __future__ import annotations

import argparse
import json
import sys

from fusionbridge import jobs
from fusionbridge.errors import FusionBridgeError, SourceNotFoundError
from fusionbridge.logs import get_logger
from fusionbridge.report import ledger_status, status_document, status_table
from fusionbridge.runtime import open_runtime
from fusionbridge.settings import Settings
from fusionbridge.store import Ledger

log = get_logger(__name__)


async def sync(settings: Settings, args: argparse.Namespace) -> int:
    """`sync [--from] [--to] [--days]`: fetch into the ledger; never pushes."""
    if args.first and args.last and args.last < args.first:
        print("fusionbridge: error: --to is before --from", file=sys.stderr)
        return 2
    if not settings.inverters:
        log.warning(
            "sync.nothing_configured",
            hint="add [[inverters]]; `fusionbridge discover --toml` lists them",
        )
        return 0
    async with open_runtime(settings) as rt:
        report = await jobs.sync(rt, first=args.first, last=args.last, days=args.days)
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
    if not settings.inverters:
        log.warning("push.nothing_configured", hint="add [[inverters]] to the config")
        return 0
    async with open_runtime(settings) as rt:
        report = await jobs.push(
            rt, month=args.month, force=args.force, dry_run=args.dry_run, wait_s=args.wait
        )
    if args.dry_run:
        print(f"dry run: {report.items} items would be sent", file=sys.stderr)
        return 0
    print(
        f"pushed {report.items} items: {report.sent} sent, {report.rejected} rejected, "
        f"{report.failed} failed, {report.pending} pending; "
        f"{report.accepted} processes accepted, {report.processing} still processing"
    )
    for drift in report.drift:
        print(
            f"drift: {drift.remote_inv_id} {drift.month} changed by {drift.difference_kwh} kWh "
            f"after it was frozen; send it with: push --month {drift.month} --force"
        )
    if report.standing_problems:
        print(
            f"{report.standing_problems} inverter-months stand rejected or failed: see `fusionbridge status`"
        )
        return 1
    return 0


async def status(settings: Settings, args: argparse.Namespace) -> int:
    """`status [--json]`: the ledger per remote inverter and month, no network."""
    from fusionbridge.clock import SystemClock

    clock = SystemClock()
    async with Ledger.open(settings.storage.path, clock) as ledger:
        lines = await ledger_status(settings, ledger, clock.now())
    if args.json:
        print(json.dumps(status_document(lines), indent=2))
    else:
        print(status_table(lines))
    return 0


async def check(settings: Settings, args: argparse.Namespace) -> int:
    """`check`: config, one FusionSolar login and inventory, every source, a REDEX token."""
    del args
    ok = True

    def report(good: bool, text: str) -> None:
        nonlocal ok
        ok = ok and good
        print(f"{'ok  ' if good else 'FAIL'} {text}")

    report(True, f"configuration valid ({len(settings.inverters)} inverters)")
    async with open_runtime(settings) as rt:
        try:
            inventory = await jobs.load_inventory(rt, refresh=True)
            inverters = sum(1 for d in inventory.devices if d.is_inverter)
            report(
                bool(inventory.plants),
                f"FusionSolar login and inventory: {len(inventory.plants)} plants, {inverters} inverters"
                + ("" if inventory.plants else " (no plant is bound to this API account)"),
            )
            try:
                resolved = await jobs.resolve(rt, inventory)
                report(True, f"every configured source found ({len(resolved)})")
            except SourceNotFoundError as exc:
                for problem in str(exc).split("; "):
                    report(False, problem)
        except FusionBridgeError as exc:
            report(False, f"FusionSolar: {exc}")
        try:
            await rt.redex.check_token()
            report(True, "REDEX token obtained")
        except FusionBridgeError as exc:
            report(False, f"REDEX: {exc}")
    return 0 if ok else 1
