"""The daemon on a PostgreSQL ledger: the server stops and comes back under it, nothing is lost."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from fusionbridge.core.models import SubmissionState
from tests.daemon_harness import DEADLINE_S, JANUARY, World, running
from tests.postgres_server import PASSWORD, PostgresServer


def monthly_requests(world: World) -> int:
    return sum(1 for r in world.redex.requests if r.endpoint == "monthly_data")


@pytest.mark.parametrize("ledger_backend", ["postgresql"])  # it stops the PostgreSQL server
async def test_server_restart_under_a_running_daemon(
    world: World, tmp_path: Path, postgres: PostgresServer
) -> None:
    settings = world.settings(tmp_path)
    assert settings.storage.url is not None
    async with running(settings, world.clock) as daemon:
        assert daemon.jobs_done == [("sync", True), ("push", True)]
        assert await daemon.json("/readyz") == (200, {"status": "ready"})
        accepted = {
            (r.remote_inv_id, r.month): r.accepted_kwh
            for r in await daemon.rt.ledger.submissions.records()
            if r.state is SubmissionState.ACCEPTED
        }
        assert {key[1] for key in accepted} == {JANUARY}
        sent = monthly_requests(world)
        daemon.app.ledger_retry_s = 0.2

        postgres.stop()
        try:
            with capture_logs() as logs:
                daemon.app.daemon.wake("sync")
                await daemon.wait_jobs(3)
            assert daemon.jobs_done[2] == ("sync", False)
            status, body = await daemon.json("/readyz")
            assert status == 503
            assert any(check.startswith("ledger:") for check in body["failing"])
            assert await daemon.json("/livez") == (200, {"status": "ok"})  # not fatal
            status, document = await daemon.json("/status")
            assert status == 200
            assert "error" in document
            failed = [e for e in logs if e["event"] == "job.failed"]
            assert failed
            assert all(e.get("ledger_unavailable") for e in failed)
            text = json.dumps(document) + json.dumps(body) + repr(logs)
            assert PASSWORD not in text
        finally:
            postgres.start()

        # retries find the server back: both jobs succeed again, in whichever order they retry
        async with asyncio.timeout(DEADLINE_S):
            while not {("sync", True), ("push", True)} <= set(daemon.jobs_done[3:]):
                daemon.job_ended.clear()
                await daemon.job_ended.wait()
        assert await daemon.json("/readyz") == (200, {"status": "ready"})
        again = {
            (r.remote_inv_id, r.month): r.accepted_kwh
            for r in await daemon.rt.ledger.submissions.records()
            if r.state is SubmissionState.ACCEPTED
        }
        assert again == accepted
        assert monthly_requests(world) == sent  # nothing accepted was sent twice
        runs = await daemon.rt.ledger.jobs.runs()
        assert runs["sync"].successes == 2
        assert daemon.app.fatal is None
        assert await daemon.stop() == 0
