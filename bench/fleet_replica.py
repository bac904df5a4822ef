"""One replica of the fleet benchmark: `fusionbridge run`'s DaemonApp, started on a shared signal.

`bench.bench_fleet` starts one or two of these. Each opens every account of the given
configuration (`open_fleet`, as `fusionbridge run` does), prints `ready`, and waits for a line
on stdin, so that replicas start together the way two daemons meet at one scheduled trigger.
Then it serves the daemon: its catch-up finds every account's sync and push due (the ledger
is empty), takes whichever account leases it can, and runs until SIGTERM. What differs from
`run`: the REDEX poll spacing, scaled down like every window in the benchmark, and how long a
push follows REDEX processing (`--push-wait`).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from fusionbridge.app import Tuning, open_fleet
from fusionbridge.daemon.service import DaemonApp
from fusionbridge.logs import configure_logging
from fusionbridge.settings import load_settings


async def serve(config: Path, poll_s: float, push_wait_s: float) -> int:
    """Open the fleet, say ready, wait for go, then serve until stopped; the daemon's exit."""
    settings = load_settings(config)
    configure_logging(settings.log.format, settings.log.level)
    async with open_fleet(settings, tuning=Tuning(redex_poll_interval_s=poll_s)) as fleet:
        app = DaemonApp(fleet, push_wait_s=push_wait_s)
        print("ready", flush=True)
        await asyncio.to_thread(sys.stdin.readline)
        return await app.serve(settings.http.host, settings.http.port)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("config", type=Path)
    parser.add_argument("--poll", type=float, default=0.2, help="REDEX poll spacing, seconds")
    parser.add_argument("--push-wait", type=float, default=60.0, help="push follows this long")
    args = parser.parse_args(argv)
    return asyncio.run(serve(args.config, args.poll, args.push_wait))


if __name__ == "__main__":
    sys.exit(main())
