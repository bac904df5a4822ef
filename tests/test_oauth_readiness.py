"""A lost OAuth authorization on /readyz and /status, through the daemon's HTTP face on loopback.

Logs are captured at DEBUG through the project's own logging set-up, and every output is grepped
for every token and code the simulator ever issued.
"""

from __future__ import annotations

import io
import json
import logging
from datetime import UTC, datetime
from pathlib import Path

import aiohttp

from fusionbridge.clock import VirtualClock
from fusionbridge.daemon.service import DaemonApp
from fusionbridge.daemon.web import build_app
from fusionbridge.fusionsolar.oauth import REVOKED
from fusionbridge.logs import configure_logging
from fusionbridge.serving import serve_on_loopback
from fusionbridge.simulator.fusionsolar_oauth import CLIENT_SECRET
from fusionbridge.store import Ledger
from tests.oauth_harness import authorized, oauth_section
from tests.pipeline_harness import serve_pipeline

NOW = datetime(2026, 2, 10, 12, 0, tzinfo=UTC)


async def get(url: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as http, http.get(url) as answer:
        return answer.status, await answer.text()


async def test_revoked_authorization_fails_readyz_until_authorize_and_never_leaks(
    ledger_target: Path | str,
) -> None:
    logs = io.StringIO()
    configure_logging("json", "DEBUG", logs)
    clock = VirtualClock(NOW)
    outputs: list[str] = []
    try:
        async with serve_pipeline(ledger_target, clock) as pipeline:
            inverters = pipeline.mixed_inverters()
            pipeline.redex.register(*(str(e["remote_inv_id"]) for e in inverters))
            settings = pipeline.settings(
                inverters, fusionsolar=oauth_section(pipeline.fusionsolar_url)
            )
            await authorized(settings, clock)
            oauth = pipeline.fusionsolar.oauth
            async with pipeline.runtime(settings, clock) as rt:
                app = DaemonApp(rt)
                runner, base = await serve_on_loopback(build_app(app.view, rt.metrics))
                try:
                    await app.run_job("sync")
                    status, text = await get(base + "/readyz")
                    outputs.append(text)
                    assert "fusionsolar_authorization" not in text

                    oauth.revoke()
                    clock.advance(7200)
                    for _ in range(3):  # however often the schedule fires
                        await app.run_job("sync")
                    status, text = await get(base + "/readyz")
                    assert status == 503
                    assert f"fusionsolar_authorization: {REVOKED}" in json.loads(text)["failing"]
                    outputs.append(text)
                    outputs.append((await get(base + "/status"))[1])
                    outputs.append((await get(base + "/metrics"))[1])
                    runs = await rt.ledger.jobs.runs()
                    assert runs["sync"].last_error == REVOKED
                finally:
                    await runner.cleanup()
            assert oauth.count("refresh_token") == 1  # the one refused refresh, no loop

            async with pipeline.runtime(settings, clock) as rt:  # restarted: still 503, no request
                readiness = await DaemonApp(rt).view.readiness()
                assert f"fusionsolar_authorization: {REVOKED}" in readiness
            await authorized(settings, clock)
            async with pipeline.runtime(settings, clock) as rt:
                readiness = await DaemonApp(rt).view.readiness()
                assert not any(r.startswith("fusionsolar_authorization") for r in readiness)
            async with Ledger.open(pipeline.ledger, clock) as ledger:
                tokens = await ledger.oauth.load_oauth()
                assert tokens is not None
                outputs.append(repr(tokens))
    finally:
        configure_logging("console", "WARNING")
        logging.getLogger().handlers.clear()
    outputs.append(logs.getvalue())
    assert '"level": "debug"' in logs.getvalue()  # DEBUG really was captured
    assert "fusionsolar.oauth_refused" in logs.getvalue()
    text = "".join(outputs)
    assert len(oauth.issued) >= 5
    for secret in [*oauth.issued, CLIENT_SECRET]:
        assert secret not in text
