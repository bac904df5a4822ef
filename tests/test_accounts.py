"""Three FusionSolar accounts in one daemon (SPEC §14): isolated, side by side, one ledger.

Each account has its own FusionSolar simulator (its own credentials, pacing and login); two
share the top-level REDEX business account, the third has its own. Client and simulators share
one VirtualClock, as in test_app.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from fusionbridge.clock import Clock, VirtualClock
from fusionbridge.settings import Settings
from fusionbridge.simulator import redex as redex_sim
from fusionbridge.simulator.fleet import FleetSpec
from fusionbridge.simulator.fusionsolar import FusionSolarSimulator, SimulatorConfig
from fusionbridge.simulator.redex import RedexSimulator
from tests.daemon_harness import NOW, running

ACCOUNTS = ("alpha", "beta", "gamma")


@dataclass
class Accounts:
    clock: Clock
    fusionsolar: dict[str, tuple[FusionSolarSimulator, str]]
    redex: tuple[RedexSimulator, str]
    own_redex: tuple[RedexSimulator, str]

    @property
    def virtual(self) -> VirtualClock:
        """The daemon tests' clock (the command tests run the simulators on real time)."""
        if not isinstance(self.clock, VirtualClock):
            raise TypeError("these simulators run on real time")
        return self.clock

    def inverter_ids(self, account: str) -> list[str]:
        return [f"{account.upper()}-{n}" for n in (1, 2)]

    def settings(self, tmp_path: Path, **overrides: Any) -> Settings:
        entries = []
        for name, (sim, url) in self.fusionsolar.items():
            plant = sim.fleet.plants[0]
            devices = sim.fleet.inverters(plant.code)
            entry: dict[str, Any] = {
                "name": name,
                "fusionsolar": {
                    "base_url": url,
                    "username": f"{name}-api",
                    "system_code": f"{name}-code",
                },
                "inverters": [
                    {"remote_inv_id": remote, "device_id": device.id}
                    for remote, device in zip(self.inverter_ids(name), devices, strict=False)
                ],
            }
            if name == "gamma":
                entry["redex"] = {
                    "base_url": self.own_redex[1],
                    "client_id": redex_sim.CLIENT_ID,
                    "client_secret": redex_sim.CLIENT_SECRET,
                    "api_key": redex_sim.API_KEY,
                }
            entries.append(entry)
        values: dict[str, Any] = {
            "timezone": "Europe/Amsterdam",
            "redex": {
                "base_url": self.redex[1],
                "client_id": redex_sim.CLIENT_ID,
                "client_secret": redex_sim.CLIENT_SECRET,
                "api_key": redex_sim.API_KEY,
            },
            "storage": {"path": str(tmp_path / "ledger.db")},
            "http": {"host": "127.0.0.1", "port": 0},
            "live": {"interval_min": 0},
            "accounts": entries,
        }
        return Settings.model_validate(values | overrides)


@asynccontextmanager
async def served_accounts(clock: Clock | None = None) -> AsyncIterator[Accounts]:
    """Three FusionSolar simulators and two REDEX ones, on `clock` (virtual by default)."""
    clock = clock or VirtualClock(NOW)
    async with AsyncExitStack() as stack:
        fusionsolar: dict[str, tuple[FusionSolarSimulator, str]] = {}
        for name in ACCOUNTS:
            sim = FusionSolarSimulator(
                SimulatorConfig(
                    username=f"{name}-api",
                    system_code=f"{name}-code",
                    clock=clock,
                    fleet=FleetSpec(plants=1, inverters=2, seed=len(fusionsolar)),
                    window_s=60 if isinstance(clock, VirtualClock) else 0,
                )
            )
            fusionsolar[name] = (sim, await stack.enter_async_context(sim.serve()))
        shared, own = RedexSimulator(clock=clock), RedexSimulator(clock=clock)
        accounts = Accounts(
            clock,
            fusionsolar,
            (shared, await stack.enter_async_context(shared.serve())),
            (own, await stack.enter_async_context(own.serve())),
        )
        shared.register(*accounts.inverter_ids("alpha"), *accounts.inverter_ids("beta"))
        own.register(*accounts.inverter_ids("gamma"))
        yield accounts


@pytest.fixture
async def accounts() -> AsyncIterator[Accounts]:
    async with served_accounts() as served:
        yield served


def sent_items(sim: RedexSimulator) -> Counter[tuple[str, int]]:
    """(RemoteInvId, Year) of every item REDEX took: one item carries a year's months."""
    return Counter(
        (item["RemoteInvId"], item["Data"]["Year"])
        for r in sim.requests
        if r.endpoint == "monthly_data" and r.status == 201 and isinstance(r.body, list)
        for item in r.body
    )


async def test_three_accounts_progress_side_by_side_each_with_its_own_login_and_redex(
    accounts: Accounts, tmp_path: Path, ledger_storage: dict[str, str]
) -> None:
    settings = accounts.settings(tmp_path, storage=ledger_storage)
    async with running(settings, accounts.virtual) as daemon:
        assert daemon.jobs_done == [("sync", True), ("push", True)]
        assert await daemon.json("/readyz") == (200, {"status": "ready"})
        status, document = await daemon.json("/status")
        assert status == 200
        assert sorted(document["accounts"]) == list(ACCOUNTS)
        assert "jobs" not in document  # per account only, when there are several
        for name in ACCOUNTS:
            jobs = document["accounts"][name]["jobs"]
            assert (jobs["sync"]["runs"], jobs["push"]["runs"]) == (1, 1)
            assert jobs["sync"]["last_run_by"] is not None
            assert document["accounts"][name]["inverters"] == 2
            assert document["workers"][name]["last_worked_by"] == jobs["sync"]["last_run_by"]
            assert document["workers"][name]["lease_holder"] is None  # given back
        assert len(document["inverters"]) == 6
        status, page = await daemon.get("/")
        assert status == 200
        accounts_table = page[page.index('aria-label="accounts"') :].split("</table>")[0]
        for name in ACCOUNTS:
            worker = document["workers"][name]["last_worked_by"]
            assert f"<td>{name}</td><td>{worker}</td>" in accounts_table
        _, metrics = await daemon.get("/metrics")
        for name in ACCOUNTS:
            assert f'fusionbridge_job_runs_total{{account="{name}",job="sync"}} 1.0' in metrics

    for name, (sim, _) in accounts.fusionsolar.items():
        assert len(sim.logins) == 1, f"{name} logged in {len(sim.logins)} times"
    shared, own = sent_items(accounts.redex[0]), sent_items(accounts.own_redex[0])
    assert {remote for remote, _ in shared} == {
        *accounts.inverter_ids("alpha"),
        *accounts.inverter_ids("beta"),
    }, "alpha and beta go to the shared REDEX business account"
    assert {remote for remote, _ in own} == set(accounts.inverter_ids("gamma"))
    assert max((shared + own).values()) == 1, "every inverter-year sent once"
    for redex, _ in (accounts.redex, accounts.own_redex):
        assert {month for (_, _, month) in redex.accepted} == {1}, "January, closed, accepted"
        # one token per REDEX business account: alpha and beta share theirs
        assert len([r for r in redex.requests if r.endpoint == "token"]) == 1

    # side by side: every account's first data call comes before any account's last one
    spans = []
    for sim, _ in accounts.fusionsolar.values():
        times = [r.at for r in sim.requests if r.endpoint.startswith("getDevKpi")]
        spans.append((min(times), max(times)))
    assert max(first for first, _ in spans) < min(last for _, last in spans)


async def test_an_account_whose_credentials_are_refused_does_not_hold_back_the_others(
    accounts: Accounts, tmp_path: Path, ledger_storage: dict[str, str]
) -> None:
    settings = accounts.settings(tmp_path, storage=ledger_storage)
    beta = settings.accounts[1]
    wrong = beta.fusionsolar.model_copy(update={"username": "not-beta"})
    broken = [
        a if a.name != "beta" else a.model_copy(update={"fusionsolar": wrong})
        for a in settings.accounts
    ]
    settings = settings.model_copy(update={"accounts": broken})
    async with running(settings, accounts.virtual) as daemon:
        # a job fails when any account's part did; the others' parts went through
        assert daemon.jobs_done == [("sync", False), ("push", False)]
        status, readiness = await daemon.json("/readyz")
        assert status == 503
        failing = readiness["failing"]
        assert any(line.startswith("account beta: credentials") for line in failing), failing
        assert not any(line.startswith(("account alpha", "account gamma")) for line in failing)
    assert len(accounts.fusionsolar["beta"][0].logins) == 1, "a refused login is not repeated"
    sent = sent_items(accounts.redex[0]) + sent_items(accounts.own_redex[0])
    assert {remote for remote, _ in sent} == {
        *accounts.inverter_ids("alpha"),
        *accounts.inverter_ids("gamma"),
    }
