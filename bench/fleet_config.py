"""The fleet benchmark's world: one FusionSolar simulator per account, two REDEX business accounts,
and the `[[accounts]]` configuration file that points the replicas at them."""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from aiohttp import web

from bench.bench_pipeline import BATCH, inverter_entries, toml_text
from fusionbridge.clock import Clock
from fusionbridge.serving import serve_on_loopback
from fusionbridge.simulator.fleet import FleetSpec
from fusionbridge.simulator.fusionsolar import FusionSolarSimulator, SimulatorConfig
from fusionbridge.simulator.redex import API_KEY, CLIENT_ID, CLIENT_SECRET, RedexSimulator


@dataclass
class BenchAccount:
    """One simulated FusionSolar account and the REDEX business account it pushes to."""

    name: str
    sim: FusionSolarSimulator
    url: str
    redex: RedexSimulator
    redex_url: str
    own_redex: bool
    entries: list[dict[str, Any]] = field(default_factory=list)

    @property
    def prefix(self) -> str:
        return f"RM-{self.name.upper()}"


async def build_accounts(
    args: argparse.Namespace, clock: Clock
) -> tuple[list[BenchAccount], list[web.AppRunner]]:
    """Fresh simulators on loopback (counts from zero); the last `--own-redex` accounts use the
    second REDEX business account."""
    runners: list[web.AppRunner] = []
    redex = [
        RedexSimulator(clock=clock, rate_limit=5, rate_period_s=args.redex_period, seed=11 + i)
        for i in range(2)
    ]
    redex_urls = []
    for rx in redex:
        runner, url = await serve_on_loopback(rx.app)
        runners.append(runner)
        redex_urls.append(url)
    accounts = []
    for n in range(args.accounts):
        sim = FusionSolarSimulator(
            SimulatorConfig(
                username=f"bench-{n:03d}",
                system_code=f"bench-system-code-{n:03d}",
                clock=clock,
                fleet=FleetSpec(plants=args.plants, inverters=args.inverters, offset=n),
                window_s=args.interval,
                window_slack_s=args.interval / 10,
            )
        )
        runner, url = await serve_on_loopback(sim.app)
        runners.append(runner)
        own = n >= args.accounts - args.own_redex
        account = BenchAccount(f"acct-{n:03d}", sim, url, redex[own], redex_urls[own], own)
        account.entries = inverter_entries(sim, account.prefix)
        account.redex.register(*(e["remote_inv_id"] for e in account.entries))
        accounts.append(account)
    return accounts, runners


def redex_table(url: str, args: argparse.Namespace) -> dict[str, Any]:
    """A REDEX business account's section, with the benchmark's scaled window."""
    return {
        "base_url": url,
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "api_key": API_KEY,
        "rate_limit": 5,
        "rate_period_s": args.redex_period,
        "batch_size": BATCH,
        "timeout_s": 30,
    }


def quiet_sync_at(zones: set[str], now: datetime) -> str:
    """A daily wall time that fires in no zone within the next two hours (no scheduled sync
    may join the catch-up the benchmark measures)."""
    for hour in range(24):
        fires = [
            datetime.combine(day, time(hour), ZoneInfo(zone))
            for zone in zones
            for day in (now.date() + timedelta(days=d) for d in (-1, 0, 1, 2))
        ]
        if not any(now - timedelta(minutes=5) <= t <= now + timedelta(hours=2) for t in fires):
            return f"{hour:02d}:00"
    raise RuntimeError("no quiet hour for the sync trigger")


def write_config(
    args: argparse.Namespace, accounts: list[BenchAccount], workdir: Path, now: datetime
) -> Path:
    """The `[[accounts]]` TOML every replica reads; the ledger URL, if any, comes from the env."""
    zones = {p.zone.key for a in accounts for p in a.sim.fleet.plants}
    shared = next(a.redex_url for a in accounts if not a.own_redex)
    values = {
        "timezone": "Europe/Amsterdam",
        "redex": redex_table(shared, args),
        # push day 1 at 00:00: the month just closed is due at once
        "schedule": {"sync_at": quiet_sync_at(zones, now), "push_day": 1, "push_at": "00:00"},
        "storage": {"path": str(workdir / "ledger.db")},
        "http": {"host": "127.0.0.1", "port": 0},
        "live": {"interval_min": 0},
        "log": {"format": "json", "level": "WARNING"},
    }
    lines = [toml_text(values, [])]
    for account in accounts:
        lines += ["[[accounts]]", f"name = {json.dumps(account.name)}", "[accounts.fusionsolar]"]
        fusionsolar = {
            "base_url": account.url,
            "username": account.sim.config.username,
            "system_code": account.sim.config.system_code,
            "min_interval_s": args.interval,
            "timeout_s": 30,
        }
        lines += [f"{k} = {json.dumps(v)}" for k, v in fusionsolar.items()]
        if account.own_redex:
            own = redex_table(account.redex_url, args)
            lines += ["[accounts.redex]", *(f"{k} = {json.dumps(v)}" for k, v in own.items())]
        for entry in account.entries:
            lines += [
                "[[accounts.inverters]]",
                *(f"{k} = {json.dumps(v)}" for k, v in entry.items()),
            ]
        lines.append("")
    path = workdir / "fusionbridge.toml"
    path.write_text("\n".join(lines))
    return path


def fresh_schema(url: str, name: str) -> str:
    """An empty schema in the database at `url`; the URL that puts it first on the search path."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{name}"')
    return f"{url}{'&' if '?' in url else '?'}options={quote(f'-csearch_path={name}', safe='')}"


def drop_schema(url: str, name: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
