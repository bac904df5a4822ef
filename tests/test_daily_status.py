"""How a daily inverter reads: `status` per month with its days, `--json` days, /status, metrics."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

from fusionbridge.clock import SystemClock, VirtualClock
from fusionbridge.core.models import Month
from fusionbridge.daemon.service import DaemonApp
from fusionbridge.daemon.systemd import Notifier
from fusionbridge.jobs.push import push
from fusionbridge.jobs.sync import sync
from tests.cli_process import run_cli
from tests.daily_harness import daily_inverters, day_truth
from tests.pipeline_harness import serve_pipeline


async def test_status_shows_months_of_days_and_every_day_with_its_total(
    tmp_path: Path, ledger_target: Path | str
) -> None:
    clock = SystemClock()
    previous = Month.containing(datetime.now(UTC), ZoneInfo("UTC")).previous()
    async with serve_pipeline(
        ledger_target, clock, rate_limit=1000, rate_period_s=1.0, processing_polls=0
    ) as pipeline:
        entries = daily_inverters(pipeline)
        pipeline.redex.register(*(e["remote_inv_id"] for e in entries), frequency="Daily")
        settings = pipeline.settings(entries)
        config = pipeline.write_toml(tmp_path / "fusionbridge.toml", entries)
        async with pipeline.runtime(settings, clock) as rt:
            await sync(rt, first=previous)
            await push(rt, wait_s=10)

            app = DaemonApp(rt, notifier=Notifier({}))
            document = json.loads(b"".join(await app.view.status([("months", "120")])))
            await app.view.refresh_metrics()
            metrics = rt.metrics.render().decode()

        code, table, _ = await run_cli(config, "status")
        assert code == 0
        code, text, _ = await run_cli(config, "status", "--json")
        assert code == 0
        again, _, _ = await run_cli(config, "push", "--wait", "5")
        assert again == 0

    west = entries[1]
    truth = day_truth(pipeline, west, previous.first_day(), clock.now())
    in_previous = {d: v for d, v in truth.items() if Month.of(d) == previous}
    ended = len(previous.days())
    assert f"{len(in_previous)}/{ended} days accepted" in table

    status = json.loads(text, parse_float=Decimal)
    [inverter] = [i for i in status["inverters"] if i["remote_inv_id"] == west["remote_inv_id"]]
    [month] = [m for m in inverter["months"] if m["month"] == str(previous)]
    days = {date.fromisoformat(d["date"]): d for d in month["days"]}
    assert {d: (Decimal(x["kwh"]), Decimal(x["accumulated_kwh"])) for d, x in days.items()} == (
        in_previous
    )
    assert {x["state"] for x in days.values()} == {"accepted"}
    assert all(x["processing_status"] == "Success" and x["process_id"] for x in days.values())
    assert Decimal(month["kwh"]) == sum(v for v, _ in in_previous.values())
    assert month["state"] == "accepted"
    states = [d["state"] for i in status["inverters"] for m in i["months"] for d in m["days"]]
    total_days = states.count("accepted")
    assert status["counts"] == {"accepted": total_days, "fetched": len(entries)}  # today: open

    served = [i for i in document["inverters"] if i["remote_inv_id"] == west["remote_inv_id"]]
    assert [m["days"] for m in served[0]["months"] if m["month"] == str(previous)] == [
        month["days"]
    ]
    assert f'fusionbridge_submissions{{state="accepted"}} {float(total_days)}' in metrics


async def test_the_daemon_pushes_days_after_a_sync_while_months_wait_for_push_day(
    ledger_target: Path | str,
) -> None:
    clock = VirtualClock(datetime(2027, 1, 2, 9, 0, tzinfo=UTC))  # push_day 3 is tomorrow
    async with serve_pipeline(ledger_target, clock) as pipeline:
        daily = daily_inverters(pipeline)[:1]
        monthly = {k: v for k, v in daily_inverters(pipeline)[1].items() if k != "frequency"}
        pipeline.redex.register(daily[0]["remote_inv_id"], frequency="Daily")
        pipeline.redex.register(monthly["remote_inv_id"])
        async with pipeline.runtime(pipeline.settings([*daily, monthly]), clock) as rt:
            app = DaemonApp(rt, notifier=Notifier({}))
            await app.run_job("sync")
            await app.run_job("push")
            runs = await rt.ledger.jobs.runs()
    assert runs["sync"].last_success_at is not None
    assert runs["push"].last_success_at is not None
    landed = {day for inv, day in pipeline.redex.accepted_days if inv == daily[0]["remote_inv_id"]}
    assert max(landed) == date(2027, 1, 1)  # yesterday in Amsterdam, a day after the sync
    assert min(landed) == date(2026, 12, 1)  # the daily job: current and previous month
    assert pipeline.redex.accepted == {}  # December waits for push_day 3
