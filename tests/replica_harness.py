"""Replicas on one PostgreSQL ledger: real `fusionbridge run` processes against simulators.

Three accounts, each with its own FusionSolar simulator (its own username and system code) on
loopback; two share one REDEX simulator, the third has its own `[accounts.redex]` and REDEX
simulator. Every process spawned here is a real `python -m fusionbridge` on the PostgreSQL ledger
named by the environment (the URL is a secret, as are the system codes), with short pacing so a
whole cycle takes seconds. The simulators' own records judge: logins, items sent, refusals.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import AsyncIterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web

from fusionbridge.clock import SystemClock
from fusionbridge.core.models import MONTH_KEYS, Month, round_kwh
from fusionbridge.serving import serve_on_loopback
from fusionbridge.settings import StorageSettings
from fusionbridge.simulator.fleet import FleetSpec
from fusionbridge.simulator.fusionsolar import Fault as FusionSolarFault
from fusionbridge.simulator.fusionsolar import FusionSolarSimulator, SimulatorConfig
from fusionbridge.simulator.redex import API_KEY, CLIENT_ID, CLIENT_SECRET, RedexSimulator
from fusionbridge.store import Ledger
from fusionbridge.store.leases import LeaseHolder
from tests.postgres_server import PASSWORD

REPO = Path(__file__).resolve().parent.parent
ACCOUNTS = ("north", "south", "east")
OWN_REDEX = "east"
"""The account with its own `[accounts.redex]` and its own REDEX simulator."""
TTL_S = 2.0
"""`storage.lease_ttl_s`: how long a dead replica's lease lives, and how often replicas re-check."""
WINDOW_S, PACE_S = 0.2, 0.3
"""FusionSolar answers 407 to two calls of one endpoint within WINDOW_S; the client paces wider."""
FLEET = FleetSpec(plants=2 * len(ACCOUNTS), inverters=4 * len(ACCOUNTS))
"""Two plants per account, of types 1 and 38, in five zones from Amsterdam to Sydney."""
START_S = 60.0
"""Bound on a replica's start-up and its first cycle on a busy machine."""
Key = tuple[str, int, int]
"""(RemoteInvId, year, month) of one month at REDEX."""


def secret_env(name: str) -> str:
    """The environment variable that carries an account's system code (SPEC §14)."""
    return f"FUSIONBRIDGE_ACCOUNTS__{name.upper().replace('-', '_')}__FUSIONSOLAR__SYSTEM_CODE"


@dataclass
class Account:
    """One FusionSolar account: its simulator, the REDEX simulator it sends to, its inverters."""

    name: str
    fusionsolar: FusionSolarSimulator
    fusionsolar_url: str
    redex: RedexSimulator
    redex_url: str
    inverters: list[dict[str, Any]] = field(default_factory=list)

    @property
    def system_code(self) -> str:
        return self.fusionsolar.config.system_code

    def logins(self) -> list[str]:
        """The outcome of every login the simulator saw (`ok`, `refused`, ...)."""
        return [outcome for _, outcome in self.fusionsolar.logins]

    def refusals(self) -> int:
        """Data calls answered with anything but data (a 407 above all), held calls aside."""
        sim = self.fusionsolar
        asked = sum(n for e, n in sim.calls.items() if e != "login")
        return asked - sum(n for e, n in sim.served.items() if e != "login") - sim.in_flight

    def due(self, now: datetime) -> dict[Key, Decimal]:
        """What REDEX must hold: each inverter's previous month in its zone (push day 1 00:00)."""
        out = {}
        for entry in self.inverters:
            month = Month.containing(now, ZoneInfo(entry["timezone"])).previous()
            source = entry.get("plant_code") or entry.get("device_id") or self._by_esn(entry)
            value = self.fusionsolar.expected_month_kwh(source, month)
            assert value is not None, f"the fleet has no value for {entry} in {month}"
            out[(entry["remote_inv_id"], month.year, month.month)] = round_kwh(value)
        return out

    def _by_esn(self, entry: Mapping[str, Any]) -> int:
        [device] = [d for d in self.fusionsolar.fleet.devices if d.esn == entry["esn"]]
        return device.id


@dataclass
class Rig:
    """The simulators of every account, the ledger's URL and the configuration around them."""

    accounts: list[Account]
    redex: RedexSimulator
    redex_url: str
    db_url: str

    def account(self, name: str) -> Account:
        return next(a for a in self.accounts if a.name == name)

    def redexes(self) -> list[RedexSimulator]:
        return list({id(a.redex): a.redex for a in self.accounts}.values())

    def due(self) -> dict[Key, Decimal]:
        now = SystemClock().now()
        return {k: v for a in self.accounts for k, v in a.due(now).items()}

    def held(self) -> dict[Key, Decimal]:
        """What the REDEX simulators hold, by (RemoteInvId, year, month)."""
        return {k: v for sim in self.redexes() for k, v in sim.accepted.items()}

    def sent(self) -> Counter[Key]:
        """How often each month reached REDEX with a value in a request REDEX took (201)."""
        counted: Counter[Key] = Counter()
        for sim in self.redexes():
            for request in sim.requests:
                if request.endpoint != "monthly_data" or request.status != 201:
                    continue
                for item in request.body:
                    data = item["Data"]
                    for number, key in enumerate(MONTH_KEYS, start=1):
                        if data["PeriodProductionPerMonthInKWh"][key] is not None:
                            counted[(item["RemoteInvId"], data["Year"], number)] += 1
        return counted

    def config(self, **sections: Mapping[str, Any]) -> dict[str, Any]:
        """The configuration file's content: no secret in it but REDEX's simulator credentials."""
        values: dict[str, Any] = {
            "timezone": "Europe/Amsterdam",
            "redex": _redex(self.redex_url, self.redex),
            "schedule": {"push_day": 1, "push_at": "00:00"},
            "storage": {"lease_ttl_s": TTL_S},
            "http": {"port": 0},
            "live": {"interval_min": 0},
            "log": {"format": "json", "level": "INFO"},
        }
        for name, section in sections.items():
            values[name] = {**values.get(name, {}), **section}
        values["accounts"] = [
            {
                "name": a.name,
                "fusionsolar": {
                    "base_url": a.fusionsolar_url,
                    "username": a.fusionsolar.config.username,
                    "min_interval_s": PACE_S,
                    "timeout_s": 60,
                },
                **({"redex": _redex(a.redex_url, a.redex)} if a.redex is not self.redex else {}),
                "inverters": a.inverters,
            }
            for a in self.accounts
        ]
        return values

    def write_config(self, path: Path, **sections: Mapping[str, Any]) -> Path:
        path.write_text(to_toml(self.config(**sections)))
        return path

    def secrets(self) -> list[str]:
        """What must never show in any output: the system codes and the ledger's password."""
        return [a.system_code for a in self.accounts] + [PASSWORD]

    def env(self) -> dict[str, str]:
        """The secrets, as a deployment passes them: the ledger URL and every system code."""
        secrets = {secret_env(a.name): a.system_code for a in self.accounts}
        return {"FUSIONBRIDGE_STORAGE__URL": self.db_url, **secrets}

    @asynccontextmanager
    async def ledger(self) -> AsyncIterator[Ledger]:
        """The shared ledger as this test reads it (the lease rows, the job records)."""
        storage = StorageSettings.model_validate({"url": self.db_url})
        async with Ledger.open(storage, SystemClock()) as ledger:
            yield ledger

    async def lease(self, account: str) -> LeaseHolder | None:
        async with self.ledger() as ledger:
            return await ledger.leases.holder(account)


def _redex(url: str, sim: RedexSimulator) -> dict[str, Any]:
    return {
        "base_url": url,
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "api_key": API_KEY,
        "rate_limit": sim.rate_limit,
        "rate_period_s": sim.rate_period_s,
        "timeout_s": 60,
    }


def _inverters(name: str, sim: FusionSolarSimulator, index: int) -> list[dict[str, Any]]:
    """A device by id, a device by esn and a plant, of the account's own two plants.

    Device ids and plant codes are unique across Huawei, so each account gets plants of its own
    (every simulator serves the same fleet; an account sees only what its entries name).
    """
    fleet = sim.fleet
    first, second = fleet.plants[2 * index : 2 * index + 2]
    by_id, by_esn = fleet.inverters(first.code)[0], fleet.inverters(second.code)[0]
    prefix = name.upper()
    return [
        {"remote_inv_id": f"{prefix}-ID", "device_id": by_id.id, "timezone": first.zone.key},
        {"remote_inv_id": f"{prefix}-ESN", "esn": by_esn.esn, "timezone": second.zone.key},
        {"remote_inv_id": f"{prefix}-PLANT", "plant_code": first.code, "timezone": first.zone.key},
    ]


@asynccontextmanager
async def serve_rig(db_url: str) -> AsyncIterator[Rig]:
    """Every simulator on 127.0.0.1 in real time; the rig around them and the ledger URL."""
    clock = SystemClock()

    def redex_sim(first_process_id: int) -> RedexSimulator:
        return RedexSimulator(
            clock=clock,
            rate_limit=100,
            rate_period_s=1.0,
            processing_polls=0,
            first_process_id=first_process_id,
        )

    async with AsyncExitStack() as stack:

        async def serve(app: web.Application) -> str:
            # A short shutdown: a request held on purpose must not hold the test's teardown.
            runner, url = await serve_on_loopback(app, shutdown_timeout=0.2)
            stack.push_async_callback(runner.cleanup)
            return url

        shared = redex_sim(7_000_001)
        shared_url = await serve(shared.app)
        accounts = []
        for index, name in enumerate(ACCOUNTS):
            sim = FusionSolarSimulator(
                SimulatorConfig(
                    username=f"{name}-api",
                    system_code=f"{name}-system-code-{index}e9",
                    fleet=FLEET,
                    clock=clock,
                    window_s=WINDOW_S,
                )
            )
            redex, redex_url = shared, shared_url
            if name == OWN_REDEX:
                redex = redex_sim(8_000_001)
                redex_url = await serve(redex.app)
            account = Account(name, sim, await serve(sim.app), redex, redex_url)
            account.inverters = _inverters(name, sim, index)
            redex.register(*(e["remote_inv_id"] for e in account.inverters))
            accounts.append(account)
        yield Rig(accounts, shared, shared_url, db_url)


def assert_sent_once(rig: Rig) -> Counter[Key]:
    """Every due month of every account at REDEX with its value, each sent exactly once."""
    due, sent = rig.due(), rig.sent()
    assert rig.held() == due
    assert set(sent) == set(due)
    assert max(sent.values()) == 1, f"a month went to REDEX twice: {sent}"
    return sent


def monthly(account: Account) -> list[int]:
    """The answers to every monthly-data request at the account's REDEX (0: not answered)."""
    return [r.status for r in account.redex.requests if r.endpoint == "monthly_data"]


def hold_first_data_request(account: Account) -> asyncio.Event:
    """FusionSolar of `account` sits on its next data request until the returned gate is set."""
    gate = asyncio.Event()
    account.fusionsolar.inject(FusionSolarFault("slow", gate=gate))
    return gate


# --- TOML -------------------------------------------------------------------------------------


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return json.dumps(str(value))


def _table(header: str, values: Mapping[str, Any]) -> list[str]:
    """A table's scalars under its header, then its sub-tables, then its arrays of tables."""
    lines = [header] if header else []
    lines += [f"{k} = {_value(v)}" for k, v in values.items() if not isinstance(v, dict | list)]
    prefix = header.strip("[]") + "." if header else ""
    for key, value in values.items():
        if isinstance(value, dict):
            lines += ["", *_table(f"[{prefix}{key}]", value)]
    for key, value in values.items():
        if isinstance(value, list):
            for entry in value:
                lines += ["", *_table(f"[[{prefix}{key}]]", entry)]
    return lines


def to_toml(values: Mapping[str, Any]) -> str:
    """Just enough TOML for the fleet's configuration: tables and `[[accounts]]` with their own."""
    return "\n".join(_table("", values)) + "\n"
