"""`fusionbridge authorize` as a real process; the test plays the owner's browser.

The FusionSolar simulator (with its OAuth endpoints) runs in this test on loopback and on the
real clock; the command serves its one callback on a free loopback port.
"""

from __future__ import annotations

import asyncio
import io
import socket
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import aiohttp
import pytest

from fusionbridge.cli.authorize import AuthorizeFailed, authorize
from fusionbridge.clock import SystemClock
from fusionbridge.settings import load_settings
from fusionbridge.simulator.fusionsolar_oauth import CLIENT_SECRET, OAuthSimConfig
from fusionbridge.store import Ledger
from tests.oauth_harness import consent, oauth_section
from tests.pipeline_harness import SECRETS, Pipeline, serve_pipeline

DEADLINE_S = 30.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class Run:
    code: int
    out: str
    err: str


@dataclass
class Rig:
    pipeline: Pipeline
    config: Path
    redirect_uri: str
    outputs: list[str]

    async def start(self, *argv: str) -> asyncio.subprocess.Process:
        return await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "fusionbridge",
            "--config",
            str(self.config),
            *argv,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            cwd=self.config.parent,
        )

    async def finish(self, process: asyncio.subprocess.Process) -> Run:
        out, err = await asyncio.wait_for(process.communicate(), DEADLINE_S)
        run = Run(process.returncode or 0, out.decode(), err.decode())
        self.outputs += [run.out, run.err]
        return run

    async def run(self, *argv: str) -> Run:
        return await self.finish(await self.start(*argv))

    async def tokens(self) -> Any:
        async with Ledger.open(self.pipeline.ledger, SystemClock()) as ledger:
            return await ledger.oauth.load_oauth()

    def assert_no_secret(self) -> None:
        """No token, code or client secret the simulator knows reached any output."""
        issued = self.pipeline.fusionsolar.oauth.issued
        assert issued, "nothing was issued, so this check would prove nothing"
        text = "".join(self.outputs)
        for secret in [*issued, CLIENT_SECRET, *SECRETS]:
            assert secret not in text


@pytest.fixture
async def rig(tmp_path: Path, ledger_target: Path | str) -> AsyncIterator[Rig]:
    redirect_uri = f"http://127.0.0.1:{free_port()}/callback"
    oauth = OAuthSimConfig(redirect_uri=redirect_uri, access_lifetime_s=30)
    async with serve_pipeline(ledger_target, SystemClock(), oauth=oauth) as pipeline:
        inverters = pipeline.mixed_inverters()[:1]
        pipeline.redex.register(str(inverters[0]["remote_inv_id"]))
        config = pipeline.write_toml(
            tmp_path / "fusionbridge.toml",
            inverters,
            fusionsolar=oauth_section(pipeline.fusionsolar_url, redirect_uri),
            log={"format": "json", "level": "DEBUG"},
        )
        yield Rig(pipeline, config, redirect_uri, [])


async def printed_url(process: asyncio.subprocess.Process) -> str:
    assert process.stdout is not None
    line = await asyncio.wait_for(process.stdout.readline(), DEADLINE_S)
    return line.decode().strip()


async def browse(url: str) -> tuple[int, str, str | None]:
    """One GET without following redirects: status, body, Location."""
    async with aiohttp.ClientSession() as http, http.get(url, allow_redirects=False) as answer:
        return answer.status, await answer.text(), answer.headers.get("Location")


async def test_authorize_through_its_callback_then_sync_refreshes_and_revocation_ends_it(
    rig: Rig,
) -> None:
    process = await rig.start("authorize")
    url = await printed_url(process)
    query = parse_qs(urlsplit(url).query)
    assert query["redirect_uri"] == [rig.redirect_uri]
    assert len(query["state"][0]) >= 20
    status, _, location = await browse(url)
    assert status == 302
    assert location is not None
    assert location.startswith(rig.redirect_uri + "?code=")
    status, page, _ = await browse(location)
    assert status == 200
    assert "You may close this tab" in page
    run = await rig.finish(process)
    assert run.code == 0, run.err
    assert run.out.splitlines()[-1].startswith("FusionSolar authorization stored (scope ")
    with pytest.raises(aiohttp.ClientConnectionError):
        await browse(location)  # exactly one callback: the listener is gone
    stored = await rig.tokens()
    oauth = rig.pipeline.fusionsolar.oauth
    assert stored.access_token.get_secret_value() in oauth.issued

    synced = await rig.run("sync")  # 30-second tokens: always due, so every call refreshes
    assert synced.code == 0, synced.err
    refreshes = oauth.count("refresh_token")
    assert refreshes >= 1
    assert rig.pipeline.fusionsolar.count("login") == 0
    assert (await rig.tokens()).refresh_token != stored.refresh_token  # rotated, stored

    oauth.revoke()
    for _ in range(2):
        failed = await rig.run("sync")
        assert failed.code == 1
        assert failed.err.splitlines()[-1] == (
            "fusionbridge: error: FusionSolar authorization expired or revoked: "
            "run fusionbridge authorize"
        )
    assert oauth.count("refresh_token") == refreshes + 1  # one refused, then none at all
    shown = await rig.run("status")
    assert shown.code == 0
    rig.assert_no_secret()


async def test_authorize_with_code_and_a_refused_code(rig: Rig) -> None:
    settings = load_settings(rig.config)
    code = (await consent(settings))["code"]
    stored = await rig.run("authorize", "--code", code)
    assert stored.code == 0, stored.err
    assert stored.out.startswith("FusionSolar authorization stored")
    first = await rig.tokens()
    again = await rig.run("authorize", "--code", code)  # a code is good for one exchange
    assert again.code == 1
    assert "FusionSolar refused the authorization code (invalid_grant" in again.err
    assert again.err.count("fusionbridge: error:") == 1
    assert (await rig.tokens()).access_token == first.access_token  # nothing replaced
    rig.assert_no_secret()


async def test_a_wrong_state_stores_nothing_and_spends_no_code(rig: Rig) -> None:
    process = await rig.start("authorize")
    url = await printed_url(process)
    _, _, location = await browse(url)
    assert location is not None
    query = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
    forged = f"{rig.redirect_uri}?{urlencode(query | {'state': 'forged'})}"
    status, page, _ = await browse(forged)
    assert status == 200
    assert "Not authorized" in page
    run = await rig.finish(process)
    assert run.code == 1
    assert "state does not match this authorize run" in run.err
    assert await rig.tokens() is None
    assert rig.pipeline.fusionsolar.oauth.count() == 0  # the code was never exchanged
    rig.assert_no_secret()


async def test_a_denied_authorization_is_one_clear_line(rig: Rig) -> None:
    rig.pipeline.fusionsolar.oauth.config.deny = True
    process = await rig.start("authorize")
    _, _, location = await browse(await printed_url(process))
    assert location is not None
    assert "error=access_denied" in location
    status, page, _ = await browse(location)
    assert status == 200
    assert "the owner denied it" in page
    run = await rig.finish(process)
    assert run.code == 1
    assert run.err.splitlines()[-1] == (
        "fusionbridge: error: FusionSolar authorization not granted (the owner denied it): "
        "nothing stored"
    )
    assert await rig.tokens() is None


async def test_oauth_config_names_every_missing_key(tmp_path: Path) -> None:
    config = tmp_path / "fusionbridge.toml"
    config.write_text(
        'timezone = "UTC"\n[fusionsolar]\nauth = "oauth"\n'
        '[redex]\nbase_url = "http://127.0.0.1:9"\naccess_token = "t"\n'
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "fusionbridge",
        "--config",
        str(config),
        "authorize",
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await asyncio.wait_for(process.communicate(), DEADLINE_S)
    assert process.returncode == 78
    assert err.decode().strip() == (
        'fusionbridge: config: fusionsolar: auth = "oauth" requires client_id, client_secret'
    )


async def test_authorize_in_account_mode_is_a_config_error(tmp_path: Path) -> None:
    async with serve_pipeline(tmp_path / "l.db", SystemClock()) as pipeline:  # no ledger opened
        config = pipeline.write_toml(tmp_path / "fusionbridge.toml", [])
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "fusionbridge",
            "--config",
            str(config),
            "authorize",
            stderr=asyncio.subprocess.PIPE,
        )
        _, err = await asyncio.wait_for(process.communicate(), DEADLINE_S)
    assert process.returncode == 78
    assert 'authorize` needs auth = "oauth"' in err.decode()


async def test_no_callback_in_time_stores_nothing(ledger_target: Path | str) -> None:
    redirect_uri = f"http://127.0.0.1:{free_port()}/callback"
    async with serve_pipeline(ledger_target, SystemClock()) as pipeline:
        settings = pipeline.settings(
            [], fusionsolar=oauth_section(pipeline.fusionsolar_url, redirect_uri)
        )
        out = io.StringIO()
        with pytest.raises(AuthorizeFailed, match=r"no answer on .* within"):
            await authorize(settings, limit_s=0.05, out=out, err=io.StringIO())
        assert out.getvalue().startswith(settings.fusionsolar_settings().oauth_url)
        async with Ledger.open(pipeline.ledger, SystemClock()) as ledger:
            assert await ledger.oauth.load_oauth() is None
