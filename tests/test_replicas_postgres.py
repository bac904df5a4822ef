"""PostgreSQL stopped and started under a running replica (SPEC §14): it answers on, loses nothing.

A real `python -m fusionbridge run` on a PostgreSQL ledger against the simulators of three
accounts. One account's FusionSolar holds a request open while the server goes away and comes
back, so a job is surely in flight across the outage.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from fusionbridge.app import open_runtime
from fusionbridge.jobs.lease import Lease, LeaseLostError
from fusionbridge.settings import Settings
from tests.postgres_server import PASSWORD, PostgresServer
from tests.replica_harness import (
    START_S,
    assert_sent_once,
    hold_first_data_request,
    serve_rig,
)
from tests.replica_process import (
    jobs_done,
    mid_request,
    replica,
    until,
)

SLOW = "south"

OUTAGE_TTL_S = 9.0
"""The lease ttl while PostgreSQL restarts: renewals every 3 s, so one fails and the next works."""


@pytest.mark.timeout(150)  # a replica, PostgreSQL stopped and started under its job
async def test_postgres_restarted_under_a_replica_mid_job_loses_nothing(
    tmp_path: Path, postgres: PostgresServer
) -> None:
    async with serve_rig(postgres.database()) as rig:
        config = rig.write_config(
            tmp_path / "fusionbridge.toml", storage={"lease_ttl_s": OUTAGE_TTL_S}
        )
        slow = rig.account(SLOW)
        gate = hold_first_data_request(slow)
        loop = asyncio.get_running_loop()
        async with replica(rig, config) as daemon:
            await mid_request(rig, daemon, slow)
            await until(
                lambda: jobs_done(daemon, "sync", {"north", "east"}),
                START_S,
                "north and east synced",
            )
            await asyncio.to_thread(postgres.stop)
            stopped_at = loop.time()
            try:
                readyz = await daemon.json("/readyz")
                status_down = await daemon.get("/status")
                renewal = await daemon.wait_event(
                    "lease.renew_failed", OUTAGE_TTL_S, after=stopped_at, account=SLOW
                )
                livez_down = await daemon.json("/livez")
                alive_down = daemon.alive
            finally:
                await asyncio.to_thread(postgres.start)
            restarted_at, restarted = loop.time(), datetime.now(UTC)

            async def kept() -> bool:
                lease = await rig.lease(SLOW)
                return (
                    lease is not None
                    and lease.holder == daemon.holder
                    and lease.released_at is None
                    and lease.renewed_at > restarted
                )

            # the job in flight kept its lease through the outage: renewed once it is back
            kept_at = await until(
                kept, OUTAGE_TTL_S, "south's lease renewed after the restart", 0.2
            )
            gate.set()  # south's answer comes now; the sync goes on to the end
            released_at = loop.time()

            async def ready() -> bool:
                return await daemon.json("/readyz") == (200, {"status": "ready"})

            ready_at = await until(ready, START_S, "/readyz 200 after the restart")
            await until(lambda: rig.held() == rig.due(), START_S, "every month at REDEX")
            done = await until(lambda: jobs_done(daemon, "push"), START_S, "pushes recorded")
            alive = daemon.alive
            code = await daemon.terminate()
            refusals = [a.refusals() for a in rig.accounts]

    status, body = readyz
    assert status == 503
    assert any(check.startswith("ledger:") for check in body["failing"]), body
    assert livez_down == (200, {"status": "ok"})  # not fatal: the process answers on
    assert status_down[0] == 200
    assert PASSWORD not in status_down[1] + str(body) + daemon.stderr
    assert "ledger" in renewal.record["error"]
    assert alive_down
    assert alive
    assert code == 0, daemon.stderr[-2000:]
    assert not daemon.events("daemon.fatal")
    assert not daemon.events("lease.lost")
    assert not daemon.events("job.failed"), "a short outage failed no job"
    assert "Traceback" not in daemon.stderr
    assert_sent_once(rig)
    for account in rig.accounts:
        assert account.logins() == ["ok"], account.name
    assert refusals == [0, 0, 0]
    print(
        f"\npostgres restart: down {restarted_at - stopped_at:.2f} s; south's lease renewed "
        f"{kept_at - restarted_at:.2f} s after the restart (lease_ttl_s {OUTAGE_TTL_S:g}); once "
        f"FusionSolar answered, /readyz 200 after {ready_at - released_at:.2f} s and every push "
        f"done after {done - released_at:.2f} s; logins {[len(a.logins()) for a in rig.accounts]}; "
        f"items per month {set(rig.sent().values())}"
    )


@pytest.mark.timeout(60)  # PostgreSQL stopped for about a lease ttl, then started again
async def test_a_lease_whose_ledger_stays_away_a_whole_ttl_counts_as_lost(
    postgres: PostgresServer,
) -> None:
    ttl_s = 0.9  # renewals every 0.3 s: the second failed one could already be too late
    settings = Settings.model_validate(
        {
            "timezone": "Europe/Amsterdam",
            "fusionsolar": {"username": "u", "system_code": "c"},
            "redex": {"base_url": "https://redex.invalid", "access_token": "t"},
            "storage": {"url": postgres.database(), "lease_ttl_s": ttl_s},
        }
    )
    async with open_runtime(settings) as rt:
        lease = Lease(rt)
        assert await lease.try_take() is None
        await asyncio.to_thread(postgres.stop)
        try:
            with capture_logs() as logs:
                async with asyncio.timeout(10 * ttl_s):
                    await lease.renew_forever()  # returns once the lease counts as lost
        finally:
            await asyncio.to_thread(postgres.start)

    events = [e["event"] for e in logs]
    assert events[-1] == "lease.lost"
    assert 1 <= events.count("lease.renew_failed") <= 2, events
    with pytest.raises(LeaseLostError, match=r"not renewed within 0\.9 s"):
        lease.ensure()  # a push stops before its next send
