"""SPEC §10 hardening: no token at DEBUG, an owner-only ledger, bad configs as exit 78, and one
warning per setting that breaks an upstream rule. Commands run as real `python -m fusionbridge`
processes where the exit status and the absence of a traceback are the point."""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from fusionbridge.clock import SystemClock, VirtualClock
from fusionbridge.core.models import Month
from fusionbridge.store import Ledger
from tests.test_commands import FIRST, LAST, Cli, _restore_logging, cli

__all__ = ["_restore_logging", "cli"]  # fixtures shared with test_commands

REPO = Path(__file__).resolve().parent.parent
FUSIONSOLAR_TOKEN = re.compile(r"x-[0-9a-f]{48}")
"""The shape of the simulator's session token (XSRF-TOKEN)."""


def fusionbridge(tmp_path: Path, *argv: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "fusionbridge", *argv],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(REPO), **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


BASE = """timezone = "Europe/Amsterdam"
[fusionsolar]
base_url = "{fs_url}"
username = "api-user"
system_code = "a-system-code"
{fusionsolar}
[redex]
base_url = "{rx_url}"
access_token = "a-static-token"
{redex}
[storage]
path = "{ledger}"
{storage}
"""


def write_config(
    tmp_path: Path,
    fusionsolar: str = "",
    redex: str = "",
    storage: str = "",
    fs_url: str = "https://eu5.fusionsolar.huawei.com",
    rx_url: str = "https://api.redex.example",
) -> Path:
    path = tmp_path / "fusionbridge.toml"
    ledger = tmp_path / "ledger.db"
    text = BASE.format(
        fusionsolar=fusionsolar,
        redex=redex,
        storage=storage,
        ledger=ledger,
        fs_url=fs_url,
        rx_url=rx_url,
    )
    path.write_text(text)
    return path


async def test_debug_logs_carry_no_token_or_secret(cli: Cli) -> None:
    cli.reconfigure(cli.inverters, log={"format": "json", "level": "DEBUG"})

    synced = await cli("sync", "--from", str(FIRST), "--to", str(LAST))
    pushed = await cli("push", "--wait", "10")

    assert (synced.code, pushed.code) == (0, 0), synced.err + pushed.err
    async with Ledger.open(cli.pipeline.ledger, SystemClock()) as ledger:
        session = await ledger.pacing.load_session()
    assert session.token is not None
    assert FUSIONSOLAR_TOKEN.fullmatch(session.token)
    text = synced.out + synced.err + pushed.out + pushed.err
    assert session.token not in text
    assert FUSIONSOLAR_TOKEN.search(text) is None
    for token in ("sim-access-", "sim-refresh-", "Bearer "):
        assert token not in text
    assert '"level": "debug"' in synced.err or '"level": "info"' in synced.err


# SQLite only: file modes of the ledger file and its -wal and -shm (PostgreSQL has no file here)
async def test_the_ledger_and_its_wal_and_shm_are_owner_only(tmp_path: Path) -> None:
    os.umask(0o022)
    path = tmp_path / "ledger.db"
    clock = VirtualClock(datetime(2025, 3, 1, tzinfo=UTC))
    async with Ledger.open(path, clock) as ledger:
        await ledger.submissions.hold("RM-1", Month(2025, 1), "negative", clock.now())
        files = [path, Path(f"{path}-wal"), Path(f"{path}-shm")]
        modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in files}
    assert modes == {"ledger.db": 0o600, "ledger.db-wal": 0o600, "ledger.db-shm": 0o600}

    older = tmp_path / "older.db"
    older.touch(mode=0o644)
    older.chmod(0o644)
    async with Ledger.open(older, clock):
        pass
    assert stat.S_IMODE(older.stat().st_mode) == 0o600


@pytest.mark.parametrize(
    ("section", "line", "named"),
    [
        ("fusionsolar", "min_interval_s = inf", "fusionsolar.min_interval_s"),
        ("fusionsolar", "timeout_s = nan", "fusionsolar.timeout_s"),
        ("redex", "rate_period_s = inf", "redex.rate_period_s"),
        ("storage", "lease_ttl_s = nan", "storage.lease_ttl_s"),
    ],
)
def test_a_non_finite_number_is_a_config_error(
    tmp_path: Path, section: str, line: str, named: str
) -> None:
    config = write_config(tmp_path, **{section: line})

    result = fusionbridge(tmp_path, "--config", str(config), "push")

    assert result.returncode == 78, result.stderr
    assert result.stderr.splitlines() == [
        f"fusionbridge: config: {named}: Input should be a finite number"
    ]


def test_an_unreadable_secret_file_is_a_config_error_naming_it(tmp_path: Path) -> None:
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    broken = secrets / "fusionsolar__system_code"
    broken.write_bytes(b"\xff\xfe not text")
    config = write_config(tmp_path)

    result = fusionbridge(
        tmp_path, "--config", str(config), "push", FUSIONBRIDGE_SECRETS_DIR=str(secrets)
    )

    assert result.returncode == 78
    assert "Traceback" not in result.stderr
    assert result.stderr.splitlines() == [
        f"fusionbridge: config: {broken}: cannot read this secret file (it is not UTF-8 text)"
    ]
    if os.geteuid() != 0:  # root reads any file: only a normal user can meet a refused one
        broken.write_text("a-system-code")
        broken.chmod(0)
        refused = fusionbridge(
            tmp_path, "--config", str(config), "push", FUSIONBRIDGE_SECRETS_DIR=str(secrets)
        )
        assert refused.returncode == 78
        assert str(broken) in refused.stderr
        assert "Traceback" not in refused.stderr


def warnings_of(stderr: str) -> list[str]:
    lines = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]
    return [e["setting"] for e in lines if e["event"] == "config.breaks_upstream_rule"]


def test_each_setting_that_breaks_an_upstream_rule_warns_once(tmp_path: Path) -> None:
    config = write_config(
        tmp_path,
        fusionsolar="min_interval_s = 0.001\nverify_tls = false",
        redex="rate_limit = 50",
        fs_url="http://fs.example",
        rx_url="http://127.0.0.1:9",
    )
    config.write_text(config.read_text() + '[log]\nformat = "json"\n')

    result = fusionbridge(tmp_path, "--config", str(config), "push")

    assert result.returncode == 0, result.stderr  # allowed: tests and simulators need them
    assert warnings_of(result.stderr) == [
        "fusionsolar.min_interval_s",
        "redex.rate_limit",
        "fusionsolar.verify_tls",
        "fusionsolar.base_url",
    ]

    clean = write_config(tmp_path)
    clean.write_text(clean.read_text() + '[log]\nformat = "json"\n')
    assert warnings_of(fusionbridge(tmp_path, "--config", str(clean), "push").stderr) == []
