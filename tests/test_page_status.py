"""/status and /metrics carry the live plant figures the page shows, read from the ledger."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import aiohttp

from fusionbridge.clock import VirtualClock
from fusionbridge.daemon.service import DaemonApp
from fusionbridge.daemon.web import build_app
from fusionbridge.serving import start_server
from tests.page_harness import NOW, served_fleet
from tests.pipeline_harness import serve_pipeline


async def test_status_and_metrics_carry_the_live_fields(ledger_target: Path | str) -> None:
    async with (
        served_fleet(ledger_target, troubled=False) as (served, _),
        aiohttp.ClientSession() as http,
    ):
        sim = served.pipeline.fusionsolar
        async with http.get(served.base + "/status") as answer:
            document = await answer.json()
        assert document["next_live_at"] is not None
        assert document["jobs"]["live"]["runs"] == 1
        plants = {p["plant_code"]: p for p in document["plants"]}
        assert len(plants) == 4
        for code, plant in plants.items():
            truth = sim.fleet.plant(code)
            assert truth is not None
            assert plant["name"] == truth.name
            assert plant["health"] == 3
            assert plant["fetched_at"] == document["now"]  # read at this very (virtual) instant
            today = served.clock.now().astimezone(truth.zone).date()
            expected = sim.expected_day_kwh(code, today, "inverter_power")
            assert Decimal(plant["today_kwh"]) == expected
            assert Decimal(plant["lifetime_kwh"]) > Decimal(plant["today_kwh"])
            hourly = [Decimal(v) for v in plant["hourly_kwh"].values()]
            assert hourly, f"{code} has no hourly values"
            assert sum(hourly) <= expected

        served.clock.advance(600)
        async with http.get(served.base + "/metrics") as answer:
            text = await answer.text()
        code = next(iter(plants))
        assert f'fusionbridge_plant_health{{plant="{code}"}} 3.0' in text
        assert f'fusionbridge_plant_data_age_seconds{{plant="{code}"}} 600.0' in text
        today_kwh = Decimal(plants[code]["today_kwh"])
        assert f'fusionbridge_plant_today_kwh{{plant="{code}"}} {float(today_kwh)}' in text
        assert f'fusionbridge_plant_lifetime_kwh{{plant="{code}"}}' in text


async def test_the_page_answers_on_an_empty_ledger_with_nothing_configured(
    ledger_target: Path | str,
) -> None:
    clock = VirtualClock(NOW)
    async with serve_pipeline(ledger_target, clock) as pipeline:
        settings = pipeline.settings([])
        async with pipeline.runtime(settings, clock) as rt:
            app = DaemonApp(rt)
            runner, port = await start_server(
                build_app(app.view, rt.metrics, page=app.page.answer), "127.0.0.1", 0
            )
            try:
                async with (
                    aiohttp.ClientSession() as http,
                    http.get(f"http://127.0.0.1:{port}/") as answer,
                ):
                    text = await answer.text()
                    assert answer.status == 200
                    assert answer.headers["Content-Encoding"] == "gzip"
                    assert "default-src 'none'" in answer.headers["Content-Security-Policy"]
            finally:
                await runner.cleanup()
                await app.page.close()
        assert "no plant in the inventory yet" in text
        assert "Not ready" in text  # no sync has run, and the page says so
        assert sum(pipeline.fusionsolar.calls.values()) == 0


async def test_the_daemon_runs_live_as_a_third_job_and_skips_it_before_a_due_sync(
    ledger_target: Path | str,
) -> None:
    async with served_fleet(ledger_target, troubled=False) as (served, _):
        sim, app = served.pipeline.fusionsolar, served.app
        realtime = sim.count("getStationRealKpi")
        served.clock.advance(61 * 60)  # the harness reads live figures hourly

        await app.run_job("live")

        assert sim.count("getStationRealKpi") == realtime + 1
        runs = await served.rt.ledger.jobs.runs()
        assert (runs["live"].runs, runs["live"].failures) == (2, 0)

        upcoming = app.daemon.next_runs()["sync"]
        assert upcoming is not None
        # Live is due again; its three calls, paced 1 ms apart here, would end after the sync's time.
        served.clock.set(upcoming - timedelta(milliseconds=1))
        await app.run_job("live")

        assert sim.count("getStationRealKpi") == realtime + 1, "live must not delay the sync"
        assert (await served.rt.ledger.jobs.runs())["live"].runs == 2
