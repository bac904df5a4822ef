"""Commands against an [[accounts]] configuration (SPEC §14), as real processes.

Every per-account command runs for each account in turn, or for `--account NAME` only; an
unknown name is a usage error, and `authorize` insists on one account.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from fusionbridge.clock import SystemClock
from tests.cli_process import run_cli
from tests.pipeline_harness import _toml_value
from tests.test_accounts import ACCOUNTS, Accounts, sent_items, served_accounts


@pytest.fixture
async def live_accounts() -> AsyncIterator[Accounts]:
    async with served_accounts(SystemClock()) as served:
        yield served


def write_config(accounts: Accounts, tmp_path: Path, storage: dict[str, str]) -> Path:
    settings = accounts.settings(tmp_path)
    values: dict[str, Any] = settings.model_dump(
        mode="json", include={"timezone", "accounts", "redex"}, exclude_none=True
    )
    values["storage"] = storage
    for account in values["accounts"]:
        account["fusionsolar"] = {
            "base_url": accounts.fusionsolar[account["name"]][1],
            "username": f"{account['name']}-api",
            "system_code": f"{account['name']}-code",
            "min_interval_s": 0.01,
        }
        if "redex" in account:
            account["redex"] = _redex(accounts.own_redex[1])
    values["redex"] = _redex(accounts.redex[1])
    values["schedule"] = {"push_day": 1, "push_at": "00:00"}  # last month is due today
    lines = [f"{key} = {_toml_value(value)}" for key, value in values.items()]
    path = tmp_path / "fusionbridge.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def _redex(url: str) -> dict[str, str]:
    from fusionbridge.simulator import redex as redex_sim

    return {
        "base_url": url,
        "client_id": redex_sim.CLIENT_ID,
        "client_secret": redex_sim.CLIENT_SECRET,
        "api_key": redex_sim.API_KEY,
    }


@pytest.mark.timeout(120)
async def test_commands_run_per_account_or_for_the_named_one(
    live_accounts: Accounts, tmp_path: Path, ledger_storage: dict[str, str]
) -> None:
    config = write_config(live_accounts, tmp_path, ledger_storage)

    code, out, err = await run_cli(config, "sync")
    assert code == 0, err
    assert [line for line in out.splitlines() if line.startswith("==")] == [
        f"== account {name} ==" for name in ACCOUNTS
    ]
    assert out.count("synced ") == 3

    code, out, err = await run_cli(config, "push", "--account", "gamma", "--wait", "10")
    assert code == 0, err
    assert "==" not in out, "one account: no headers"
    assert {r for r, _ in sent_items(live_accounts.own_redex[0])} == {"GAMMA-1", "GAMMA-2"}
    assert not sent_items(live_accounts.redex[0]), "only gamma was pushed"

    code, out, err = await run_cli(config, "push", "--wait", "10")
    assert code == 0, err
    shared, own = sent_items(live_accounts.redex[0]), sent_items(live_accounts.own_redex[0])
    assert {r for r, _ in shared} == {"ALPHA-1", "ALPHA-2", "BETA-1", "BETA-2"}
    assert max((shared + own).values()) == 1, "nothing sent twice"

    code, out, err = await run_cli(config, "status", "--account", "beta")
    assert code == 0, err
    rows = [line.split()[0] for line in out.splitlines()[2:] if line[:1].isupper()]
    assert set(rows) <= {"BETA-1", "BETA-2", "accepted:"}
    assert out.startswith("account beta: last worked by ")

    code, out, err = await run_cli(config, "status", "--json")
    assert code == 0, err
    document = json.loads(out)
    assert sorted(document["accounts"]) == list(ACCOUNTS)
    assert all(a["last_worked_by"] for a in document["accounts"].values())
    assert len(document["inverters"]) == 6

    code, out, err = await run_cli(config, "discover", "--toml", "--account", "alpha")
    assert code == 0, err
    assert "[[accounts.inverters]]" in out
    assert "\n[[inverters]]" not in out

    code, out, err = await run_cli(config, "export", "--format", "json")
    assert code == 0, err
    assert {row["remote_inv_id"] for row in json.loads(out)} == {
        f"{name.upper()}-{n}" for name in ACCOUNTS for n in (1, 2)
    }
    month = document["inverters"][0]["months"][-1]["month"]
    code, out, err = await run_cli(
        config, "evidence", "--month", month, "--inverter", "BETA-1", "--out", "beta.zip"
    )
    assert code == 0, err
    assert (tmp_path / "beta.zip").stat().st_size > 0

    for name, (sim, _) in live_accounts.fusionsolar.items():
        assert len(sim.logins) == 1, f"{name}: the token outlives each command"


@pytest.mark.timeout(60)
async def test_an_unknown_account_and_an_unnamed_authorize_are_usage_errors(
    live_accounts: Accounts, tmp_path: Path
) -> None:
    config = write_config(live_accounts, tmp_path, {"path": str(tmp_path / "ledger.db")})
    code, out, err = await run_cli(config, "sync", "--account", "delta")
    assert (code, out) == (2, "")
    assert err.strip() == (
        "fusionbridge: error: --account: no account named 'delta' (configured: alpha, beta, gamma)"
    )
    code, _, err = await run_cli(config, "status", "--account", "delta")
    assert code == 2
    assert "no account named 'delta'" in err
    code, _, err = await run_cli(config, "authorize")
    assert code == 2
    assert err.strip() == (
        "fusionbridge: error: authorize: name the account to connect with --account "
        "(alpha, beta, gamma)"
    )
    assert "Traceback" not in err
    assert not any(sim.requests for sim, _ in live_accounts.fusionsolar.values())
