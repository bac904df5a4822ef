"""Fleet benchmark: the daily sync and monthly push of 50 FusionSolar accounts x 40 inverters.

Run with `uv run python -m bench.bench_fleet`. This process serves one FusionSolar simulator per
account (its own ids, credentials and per-endpoint windows) and two REDEX simulators: the
shared business account of the top-level `[redex]`, and a second one that the last
`--own-redex` accounts name in their own `[accounts.redex]`. The fleet runs in child processes
(`bench.fleet_replica`: `fusionbridge run`'s DaemonApp over `open_fleet`), one or two replicas
on one ledger, started together; the daemon's catch-up finds every sync and push due. The
simulators run at a raised priority where allowed: they stand in for remote servers.

Windows are scaled down: FusionSolar paces `--interval` per endpoint (65 s in the field), REDEX
allows 5 requests per `--redex-period` (5 s in the field). Counts carry over; the sync's wall
time is compared with the pacing bound, and the part above the bound, which does not scale with
the window, is shown at the field's window too. The ledger is a SQLite file, then PostgreSQL:
`--postgres-url` (a database where this may create and drop schemas), else a throw-away
cluster from the `postgresql` binaries, as the tests start one.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

from bench.fleet_config import build_accounts, drop_schema, fresh_schema, write_config
from bench.fleet_report import Replica, Run, report
from fusionbridge.clock import SystemClock
from fusionbridge.settings import load_settings
from fusionbridge.store import Ledger
from fusionbridge.store.job_runs import JobRun

REPO = Path(__file__).resolve().parent.parent


def start_replica(config: Path, args: argparse.Namespace) -> Replica:
    """A replica on libc malloc, as `fusionbridge run` re-execs itself."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONMALLOC": "malloc"}
    err = tempfile.TemporaryFile()  # noqa: SIM115 (kept open with the replica, read at the end)
    argv = [sys.executable, "-m", "bench.fleet_replica", str(config), "--poll", str(args.poll)]
    proc = subprocess.Popen(  # noqa: S603 (our own interpreter and module)
        argv,
        cwd=REPO,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=err,
        text=True,
    )
    with contextlib.suppress(OSError):  # back to the normal priority (it starts with ours)
        os.setpriority(os.PRIO_PROCESS, proc.pid, 0)
    return Replica(proc, err)


def serve_first() -> str:
    """Run the simulators ahead of the fleet, when allowed: they stand in for Huawei's and
    REDEX's servers, which do not share the fleet's two cores, and their windows are judged
    by when a request reaches them. Replicas are started back at the normal priority."""
    try:
        os.setpriority(os.PRIO_PROCESS, 0, -10)
    except OSError:
        return "simulators at normal priority (raising it was refused)"
    return "simulators at nice -10, replicas at 0"


async def until_done(ledger: Ledger, names: list[str], timeout_s: float) -> bool:
    """Poll the ledger until every account's sync and the push after it have finished."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while asyncio.get_running_loop().time() < deadline:
        every = await ledger.jobs.every_account()
        if all(_finished(every.get(name, {})) for name in names):
            return True
        await asyncio.sleep(0.2)
    return False


def _finished(runs: dict[str, JobRun]) -> bool:
    sync, push = runs.get("sync"), runs.get("push")
    if sync is None or push is None or sync.running or push.running:
        return False
    if sync.last_finished_at is None or push.last_finished_at is None:
        return False
    return push.last_finished_at >= sync.last_finished_at


async def scenario(
    args: argparse.Namespace, ledger_kind: str, replicas: int, workdir: Path, url: str | None
) -> Run:
    """Serve fresh simulators, start the replicas together, wait for the fleet's jobs."""
    clock = SystemClock()
    accounts, runners = await build_accounts(args, clock)
    try:
        if url is not None:
            os.environ["FUSIONBRIDGE_STORAGE__URL"] = url
        else:
            os.environ.pop("FUSIONBRIDGE_STORAGE__URL", None)
        config = write_config(args, accounts, workdir, clock.now())
        settings = load_settings(config)
        async with Ledger.open(settings.storage, clock) as ledger:  # migrated before replicas
            started = [start_replica(config, args) for _ in range(replicas)]
            try:
                for replica in started:
                    line = await asyncio.to_thread(_readline, replica.proc)
                    if line.strip() != "ready":
                        raise RuntimeError(f"replica did not start: {replica.log_tail()}")
                go = datetime.now(UTC)
                for replica in started:
                    _say(replica.proc, "go\n")
                done = await until_done(ledger, [a.name for a in accounts], args.timeout)
                await asyncio.sleep(args.settle)  # a late duplicate run would show in the counts
                runs = await ledger.jobs.every_account()
            finally:
                for replica in started:
                    with contextlib.suppress(ProcessLookupError):
                        replica.proc.send_signal(signal.SIGTERM)
                await asyncio.gather(*(asyncio.to_thread(r.reap) for r in started))
    finally:
        for runner in runners:
            await runner.cleanup()
    return Run(ledger_kind, started, go, runs, accounts, not done)


def _readline(proc: subprocess.Popen[str]) -> str:
    assert proc.stdout is not None
    return proc.stdout.readline()


def _say(proc: subprocess.Popen[str], text: str) -> None:
    assert proc.stdin is not None
    proc.stdin.write(text)
    proc.stdin.flush()


# --- main -----------------------------------------------------------------------------------------


@contextlib.contextmanager
def postgres(args: argparse.Namespace, needed: bool) -> Iterator[Callable[[str], str] | None]:
    """A factory of empty PostgreSQL ledgers (one schema each), or None when there is none."""
    if not needed:
        yield None
        return
    if args.postgres_url:
        made: list[str] = []

        def schema(name: str) -> str:
            made.append(name)
            return fresh_schema(args.postgres_url, name)

        try:
            yield schema
        finally:
            for name in made:
                drop_schema(args.postgres_url, name)
        return
    try:
        from tests.postgres_server import remove_server, start_server
    except ImportError as exc:
        print(f"PostgreSQL: skipped ({exc}); pass --postgres-url")
        yield None
        return
    try:
        server = start_server()
    except (LookupError, RuntimeError) as exc:
        print(f"PostgreSQL: skipped ({exc}); pass --postgres-url")
        yield None
        return
    try:
        yield lambda _name: server.database()
    finally:
        remove_server(server)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--accounts", type=int, default=50)
    parser.add_argument("--inverters", type=int, default=40, help="per account")
    parser.add_argument("--plants", type=int, default=4, help="per account")
    parser.add_argument("--own-redex", type=int, default=10, help="accounts on a 2nd REDEX")
    parser.add_argument("--interval", type=float, default=5.0, help="FusionSolar window, s")
    parser.add_argument("--redex-period", type=float, default=0.2, help="REDEX window, s")
    parser.add_argument("--poll", type=float, default=0.2, help="REDEX poll spacing, s")
    parser.add_argument("--ledger", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--replicas", choices=("1", "2", "both"), default="both")
    parser.add_argument("--postgres-url", help="a database where schemas may be created")
    parser.add_argument("--timeout", type=float, default=300.0, help="per scenario, s")
    parser.add_argument("--settle", type=float, default=2.0, help="watch for late runs, s")
    args = parser.parse_args(argv)
    if not 0 <= args.own_redex < args.accounts:
        parser.error("--own-redex must leave at least one account on the shared [redex]")
    counts = [1, 2] if args.replicas == "both" else [int(args.replicas)]
    kinds = ["sqlite", "postgresql"] if args.ledger == "both" else [args.ledger]
    now = datetime.now(UTC)
    print(
        f"fleet: {args.accounts} accounts x {args.inverters} inverters ({args.plants} plants each, "
        f"types 1 and 38), {args.own_redex} of them on their own REDEX business account; "
        f"FusionSolar window {args.interval:g} s per endpoint (65 s in the field), REDEX 5 per "
        f"{args.redex_period:g} s (5 per 5 s); {os.cpu_count()} CPU cores"
    )
    good = True
    with postgres(args, "postgresql" in kinds) as pg:
        print(serve_first())
        for kind in kinds:
            if kind == "postgresql" and pg is None:
                good = False
                continue
            for count in counts:
                with tempfile.TemporaryDirectory(prefix="fusionbridge-fleet-") as workdir:
                    url = pg(f"fleet_{os.getpid()}_{count}") if pg and kind != "sqlite" else None
                    run = asyncio.run(scenario(args, kind, count, Path(workdir), url))
                    good = report(run, args, now) and good
                    for replica in run.replicas:
                        replica.stderr.close()
    return 0 if good else 1


if __name__ == "__main__":
    sys.exit(main())
