"""`evidence` and `export`: read-only commands over the ledger (no lease, no network)."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from datetime import date
from pathlib import Path

from fusionbridge.clock import SystemClock
from fusionbridge.daemon.status import ledger_status
from fusionbridge.evidence.bundle import build_files, zip_bytes
from fusionbridge.evidence.export import DAY_COLUMNS, MONTH_COLUMNS, day_rows, month_rows, render
from fusionbridge.evidence.gather import EvidenceMissing, gather
from fusionbridge.evidence.raw import sha256_hex
from fusionbridge.logs import get_logger
from fusionbridge.settings import Settings
from fusionbridge.store import Ledger

log = get_logger(__name__)


async def evidence(settings: Settings, args: argparse.Namespace) -> int:
    """`evidence --month [--inverter] --out FILE.zip`: the month's bundle for a verifier."""
    clock = SystemClock()
    async with Ledger.open(settings.storage, clock) as ledger:
        try:
            facts = await gather(settings, ledger, args.month, clock.now(), args.inverter)
        except EvidenceMissing as exc:
            print(f"fusionbridge: error: {exc}", file=sys.stderr)
            return 1
    files = build_files(facts)
    data = zip_bytes(files)
    try:
        _write_atomically(args.out, data)
    except OSError as exc:
        print(f"fusionbridge: error: cannot write {args.out}: {exc.strerror}", file=sys.stderr)
        return 1
    log.info(
        "evidence.written",
        month=str(args.month),
        inverters=len(facts.inverters),
        files=len(files),
        bytes=len(data),
    )
    print(
        f"wrote {args.out}: {len(facts.inverters)} inverters, {len(files)} files, "
        f"{len(data)} bytes, sha256 {sha256_hex(data)}"
    )
    return 0


async def export(settings: Settings, args: argparse.Namespace) -> int:
    """`export [--from] [--to] [--days] [--format]`: months (or days) per inverter on stdout."""
    if args.first and args.last and args.last < args.first:
        print("fusionbridge: error: --to is before --from", file=sys.stderr)
        return 2
    clock = SystemClock()
    async with Ledger.open(settings.storage, clock) as ledger:
        lines = await ledger_status(settings, ledger, clock.now())
        if args.days:
            first = args.first.first_day() if args.first else date.min
            last = args.last.last_day() if args.last else date.max
            days = await ledger.raw.daily_between(first, last)
            rows = day_rows(lines, days, args.first, args.last)
            columns = DAY_COLUMNS
        else:
            rows, columns = month_rows(lines, args.first, args.last), MONTH_COLUMNS
    sys.stdout.write(render(rows, columns, args.format))
    return 0


def _write_atomically(path: Path, data: bytes) -> None:
    """A reader never sees half a bundle: write beside it, then rename over."""
    directory = path.parent if str(path.parent) else Path()
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=directory)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
