"""Command line: parse, load settings, run one command, turn its outcome into an exit status."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any

from fusionbridge import __version__
from fusionbridge.core.models import Month
from fusionbridge.errors import ConfigError, CredentialsError, FusionBridgeError
from fusionbridge.jobs.lease import DEFAULT_LEASE_WAIT_S
from fusionbridge.logs import configure_logging
from fusionbridge.settings import Settings, load_settings

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_CONFIG = 78

Handler = Callable[[Settings, argparse.Namespace], Coroutine[Any, Any, int]]


def _month(text: str) -> Month:
    try:
        return Month.parse(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected YYYY-MM, got {text!r}") from None


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"expected a number of seconds >= 0, got {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The whole command line of SPEC §4."""
    parser = argparse.ArgumentParser(
        prog="fusionbridge",
        description="Huawei FusionSolar generation → REDEX I-REC monthly submissions.",
    )
    parser.add_argument(
        "--config",
        type=Path,
        help="TOML config file (default: $FUSIONBRIDGE_CONFIG or ./fusionbridge.toml)",
    )
    parser.add_argument("--version", action="version", version=f"fusionbridge {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    commands.add_parser("run", help="the daemon: scheduler and HTTP endpoints")
    demo = commands.add_parser(
        "demo", help="run everything against built-in simulators, no credentials"
    )
    demo.add_argument("--once", action="store_true", help="exit after the first full cycle")
    demo.add_argument(
        "--oauth", action="store_true", help="use FusionSolar OAuth Connect instead of an account"
    )
    demo.add_argument(
        "--port",
        type=int,
        default=8080,
        help="port of the demo's /status (default 8080; 0 picks one)",
    )
    check = commands.add_parser(
        "check", help="validate config, log in once, find every configured source"
    )
    discover = commands.add_parser("discover", help="list FusionSolar plants and devices")
    discover.add_argument("--toml", action="store_true", help="print an [[inverters]] skeleton")
    sync = commands.add_parser("sync", help="fetch generation into the ledger (never pushes)")
    sync.add_argument("--from", dest="first", type=_month, metavar="YYYY-MM")
    sync.add_argument("--to", dest="last", type=_month, metavar="YYYY-MM")
    sync.add_argument(
        "--days", action="store_true", help="also fetch day values for every month of the range"
    )
    push = commands.add_parser("push", help="submit due months to REDEX and follow them")
    push.add_argument("--month", type=_month, metavar="YYYY-MM")
    push.add_argument("--inverter", metavar="ID", help="only this remote inverter (RemoteInvId)")
    push.add_argument(
        "--dry-run", action="store_true", help="print the exact JSON payloads, send nothing"
    )
    push.add_argument(
        "--force", action="store_true", help="re-send --month even if unchanged or frozen"
    )
    push.add_argument(
        "--wait",
        type=_seconds,
        default=120.0,
        metavar="SECONDS",
        help="how long to follow processing (default 120)",
    )
    probe = commands.add_parser(
        "probe", help="FusionSolar communication test: one paced call per interface"
    )
    probe.add_argument("--plant", metavar="CODE", help="the plant to test (default: the first)")
    probe.add_argument("--json", action="store_true", help="print each step's raw data")
    authorize = commands.add_parser(
        "authorize", help="FusionSolar OAuth Connect: let the plant owner approve fusionbridge"
    )
    authorize.add_argument(
        "--code", help="exchange this authorization code (copied from the redirected address)"
    )
    status = commands.add_parser("status", help="what the ledger holds per inverter and month")
    status.add_argument("--json", action="store_true")
    for command in (check, discover, sync, push, probe, authorize, status):
        command.add_argument(
            "--account",
            metavar="NAME",
            help="only this account of an [[accounts]] configuration (default: every account)",
        )
    for command in (check, discover, sync, push, probe):
        command.add_argument(
            "--lease-wait",
            type=_seconds,
            default=DEFAULT_LEASE_WAIT_S,
            metavar="SECONDS",
            help="how long to wait while another process holds the ledger lease (default 120)",
        )
    commands.add_parser(
        "healthcheck", help="exit 0 if the local daemon's /livez answers 200 within 3 s"
    )
    evidence = commands.add_parser(
        "evidence", help="zip one month's evidence for a verifier (raw bytes, requests, hashes)"
    )
    evidence.add_argument("--month", type=_month, metavar="YYYY-MM", required=True)
    evidence.add_argument("--inverter", metavar="ID", help="one remote inverter only")
    evidence.add_argument("--out", type=Path, metavar="FILE.zip", required=True)
    export = commands.add_parser("export", help="months (or days) per inverter as CSV or JSON")
    export.add_argument("--from", dest="first", type=_month, metavar="YYYY-MM")
    export.add_argument("--to", dest="last", type=_month, metavar="YYYY-MM")
    export.add_argument("--days", action="store_true", help="one row per day instead of month")
    export.add_argument("--format", choices=("csv", "json"), default="csv")
    notify = commands.add_parser("notify", help="notifications: --test sends one test message")
    notify.add_argument("--test", action="store_true", required=True)
    return parser


def _handler(command: str) -> Handler:
    from fusionbridge.cli import commands

    handler: Handler = getattr(commands, command)
    return handler


def warn_upstream_rules(settings: Settings) -> None:
    """One warning line per setting that breaks an upstream rule (SPEC §10)."""
    from fusionbridge.logs import get_logger
    from fusionbridge.upstream_rules import upstream_rule_breaks

    log = get_logger("fusionbridge.settings")
    for setting, problem in upstream_rule_breaks(settings):
        log.warning("config.breaks_upstream_rule", setting=setting, problem=problem)


def _fail(message: str) -> None:
    print(f"fusionbridge: error: {message}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `fusionbridge` script; returns the exit status."""
    args = build_parser().parse_args(argv)
    if (
        args.command == "run"
        and argv is None
        and sys.executable
        and "PYTHONMALLOC" not in os.environ
    ):
        _run_on_libc_malloc()
    if args.command == "healthcheck":
        from fusionbridge.cli.healthcheck import healthcheck

        return healthcheck(args.config)
    if args.command == "demo":
        from fusionbridge.demo.run import demo

        return demo(once=args.once, port=args.port, oauth=args.oauth)
    try:
        settings = load_settings(args.config)
    except ConfigError as exc:
        for problem in exc.problems:
            print(f"fusionbridge: config: {problem}", file=sys.stderr)
        return EXIT_CONFIG
    configure_logging(settings.log.format, settings.log.level)
    wrong_account = _account_problem(settings, args)
    if wrong_account is not None:
        _fail(wrong_account)
        return EXIT_USAGE
    if args.command != "status":  # status reads the ledger only
        warn_upstream_rules(settings)
    handler = _handler(args.command.replace("-", "_"))
    if args.command not in PER_ACCOUNT:  # the whole ledger: every account's inverters
        from fusionbridge.app import fleet_view

        return run_command(handler, fleet_view(settings), args)
    return run_per_account(handler, settings, args)


PER_ACCOUNT = frozenset({"sync", "push", "probe", "authorize", "discover", "check"})
"""Commands that work for one account at a time (SPEC §14): `--account`, else each in turn."""


def _account_problem(settings: Settings, args: argparse.Namespace) -> str | None:
    """What is wrong with `--account` (or its absence) for this command, before any work."""
    account = getattr(args, "account", None)
    names = settings.account_names()
    if account is not None and account not in names:
        return f"--account: no account named {account!r} (configured: {', '.join(names)})"
    if args.command == "authorize" and account is None and len(names) > 1:
        return f"authorize: name the account to connect with --account ({', '.join(names)})"
    return None


def run_per_account(handler: Handler, settings: Settings, args: argparse.Namespace) -> int:
    """Run the command for `--account`, or for every account in turn; the worst exit status."""
    chosen = settings.account_names() if args.account is None else [args.account]
    worst = EXIT_OK
    for name in chosen:
        if len(chosen) > 1:
            print(f"== account {name} ==", flush=True)
        worst = max(worst, run_command(handler, settings.for_account(name), args))
    return worst


def _run_on_libc_malloc() -> None:
    """Re-exec the daemon (same PID) with PYTHONMALLOC=malloc, which hands freed memory back.

    The daemon idles for a day after each sync. CPython's small-object arenas are returned only
    when wholly empty, so a 1,000-inverter sync would leave it at its busiest size; libc's
    malloc, trimmed after every job (daemon/memory.py), gives the pages back. An explicit
    PYTHONMALLOC in the environment is respected.
    """
    env = os.environ | {"PYTHONMALLOC": "malloc"}
    os.execve(sys.executable, [sys.executable, "-m", "fusionbridge", *sys.argv[1:]], env)  # noqa: S606


def run_command(handler: Handler, settings: Settings, args: argparse.Namespace) -> int:
    """Run one async command and map what escapes it to an exit status with one clear line."""
    try:
        return asyncio.run(handler(settings, args))
    except KeyboardInterrupt:
        return 130
    except ConfigError as exc:
        for problem in exc.problems:
            print(f"fusionbridge: config: {problem}", file=sys.stderr)
        return EXIT_CONFIG
    except CredentialsError as exc:
        _fail(f"credentials refused ({exc.api}): {exc}")
        return EXIT_FAILURE
    except FusionBridgeError as exc:
        _fail(str(exc))
        return EXIT_FAILURE
    except Exception as exc:  # a bug: one line for the operator, the traceback only in the log
        from fusionbridge.logs import get_logger

        get_logger("fusionbridge.cli").error(
            "cli.internal_error", error=f"{type(exc).__name__}: {exc}"
        )
        from fusionbridge.store.job_runs import redact_error

        _fail(redact_error(f"internal error ({type(exc).__name__}): {exc}; please report it"))
        return EXIT_FAILURE
