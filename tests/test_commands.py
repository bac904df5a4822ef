"""`sync`, `push`, `status` and `check` through `fusionbridge.cli.main`, as an operator runs them.

Each command reads a TOML file that points at both simulators on 127.0.0.1 and runs on the real
clock, so the months used are relative to today: two to three months back, always closed and due.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import stamina
import structlog

from fusionbridge.cli.main import main
from fusionbridge.clock import SystemClock
from fusionbridge.core.models import Month
from fusionbridge.simulator.redex import Fault
from fusionbridge.store import Ledger
from tests.pipeline_harness import SECRETS, Pipeline, serve_pipeline

CURRENT = Month.containing(datetime.now(UTC), ZoneInfo("UTC"))
FIRST, LAST = CURRENT.shift(-3), CURRENT.shift(-2)
MONTH_KEYS = {
    "month",
    "kwh",
    "state",
    "process_id",
    "processing_status",
    "drift_kwh",
    "last_error",
}
DAILY_INVERTER = "RM-REGISTERED-DAILY"


@dataclass
class Outcome:
    code: int
    out: str
    err: str


@dataclass
class Cli:
    """Runs commands against one config file and checks no secret ever leaves."""

    pipeline: Pipeline
    config: Path
    capsys: pytest.CaptureFixture[str]
    inverters: list[dict[str, Any]]

    async def __call__(self, *argv: str) -> Outcome:
        code = await asyncio.to_thread(main, ["--config", str(self.config), *argv])
        captured = self.capsys.readouterr()
        for secret in SECRETS:
            assert secret not in captured.out, f"a secret reached stdout of {argv}"
            assert secret not in captured.err, f"a secret reached stderr of {argv}"
        return Outcome(code, captured.out, captured.err)

    def reconfigure(self, inverters: list[dict[str, Any]], **sections: Any) -> None:
        self.inverters = inverters
        self.pipeline.write_toml(self.config, inverters, **sections)


def json_documents(text: str) -> list[Any]:
    """Every JSON document in `text`, written one after another (as jq reads them)."""
    decoder, documents, index = json.JSONDecoder(parse_float=Decimal), [], 0
    while text[index:].strip():
        index += len(text[index:]) - len(text[index:].lstrip())
        document, index = decoder.raw_decode(text, index)
        documents.append(document)
    return documents


def events(err: str) -> list[dict[str, Any]]:
    """The JSON log lines a command wrote to stderr."""
    return [json.loads(line) for line in err.splitlines() if line.startswith("{")]


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """`main` points logging at the captured stderr; put things back for the next test."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    config = structlog.get_config()
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    structlog.configure(**config)


@pytest.fixture
async def cli(
    tmp_path: Path, ledger_target: Path | str, capsys: pytest.CaptureFixture[str]
) -> AsyncIterator[Cli]:
    async with serve_pipeline(
        ledger_target,
        SystemClock(),
        rate_limit=1000,
        rate_period_s=1.0,
        processing_polls=0,
    ) as pipeline:
        inverters = pipeline.mixed_inverters()[:3]
        pipeline.redex.register(*(e["remote_inv_id"] for e in inverters))
        config = pipeline.write_toml(tmp_path / "fusionbridge.toml", inverters)
        yield Cli(pipeline, config, capsys, inverters)


async def test_sync_fills_the_ledger_and_says_how(cli: Cli) -> None:
    result = await cli("sync", "--from", str(FIRST), "--to", str(LAST))

    assert result.code == 0, result.err
    months = FIRST.months_until(LAST) + 1
    assert result.out.startswith(f"synced {months * len(cli.inverters)} month values")
    assert "FusionSolar calls" in result.out
    finished = [e for e in events(result.err) if e["event"] == "sync.finished"]
    assert len(finished) == 1
    assert finished[0]["month_values"] == months * len(cli.inverters)
    assert cli.pipeline.redex.count() == 0, "sync never pushes"

    backwards = await cli("sync", "--from", str(LAST), "--to", str(FIRST))
    assert backwards.code == 2
    assert "--to is before --from" in backwards.err


async def test_dry_run_prints_the_exact_payload_and_sends_nothing(cli: Cli) -> None:
    assert (await cli("sync", "--from", str(FIRST), "--to", str(LAST))).code == 0

    dry = await cli("push", "--dry-run")

    assert dry.code == 0, dry.err
    assert cli.pipeline.redex.count() == 0, "not even a token request"
    printed = json_documents(dry.out)
    assert len(printed) == 1  # one request: fewer items than batch_size
    [payload] = printed
    years = {FIRST.year, LAST.year}
    assert len(payload) == len(cli.inverters) * len(years)
    for item in payload:
        assert set(item) == {"RemoteInvId", "Data"}
        assert set(item["Data"]) == {"Year", "PeriodProductionPerMonthInKWh"}
    assert "items would be sent" in dry.err

    pushed = await cli("push", "--wait", "10")
    assert pushed.code == 0, pushed.err
    assert cli.pipeline.monthly_bodies() == printed, "the dry run printed what push then sent"
    async with Ledger.open(cli.pipeline.ledger, SystemClock()) as ledger:
        sent_text = [request.payload_json for request in await ledger.submissions.request_log()]
    assert dry.out == "".join(text + "\n" for text in sent_text), "byte for byte"


async def test_push_exits_1_while_a_month_stands_rejected(cli: Cli) -> None:
    daily = {**cli.inverters[0], "remote_inv_id": DAILY_INVERTER}
    cli.pipeline.redex.register(DAILY_INVERTER, frequency="Daily")
    cli.reconfigure([daily, *cli.inverters[1:]])
    assert (await cli("sync", "--from", str(FIRST), "--to", str(LAST))).code == 0

    pushed = await cli("push", "--wait", "10")

    assert pushed.code == 1
    assert "stand rejected, failed, held or unconfirmed" in pushed.out
    refused = [e for e in events(pushed.err) if e["event"] == "push.item_refused"]
    assert {e["inverter"] for e in refused} == {DAILY_INVERTER}
    assert all("must send {Daily} generation data" in e["error"] for e in refused)
    assert {inv for inv, _, _ in cli.pipeline.redex.accepted} == {
        e["remote_inv_id"] for e in cli.inverters[1:]
    }

    status = json.loads((await cli("status", "--json")).out)
    rejected = [
        (inv["remote_inv_id"], m["last_error"])
        for inv in status["inverters"]
        for m in inv["months"]
        if m["state"] == "rejected"
    ]
    assert {inv for inv, _ in rejected} == {DAILY_INVERTER}
    assert len(rejected) == FIRST.months_until(LAST) + 1
    assert all("{Daily}" in (error or "") for _, error in rejected)

    again = await cli("push", "--wait", "10")
    assert again.code == 1, "a standing rejection keeps failing the run"


async def test_push_exits_1_when_redex_cannot_take_the_items(cli: Cli) -> None:
    assert (await cli("sync", "--from", str(FIRST), "--to", str(LAST))).code == 0
    cli.pipeline.redex.inject("monthly_data", Fault(status=503))

    with stamina.set_testing(True):  # one attempt, no backoff: the 503 is final for this run
        failed = await cli("push", "--wait", "10")

    assert failed.code == 1
    assert "could not be sent" in failed.out
    assert cli.pipeline.redex.accepted == {}
    again = await cli("push", "--wait", "10")
    assert again.code == 0, again.out
    for entry in cli.inverters:
        held = cli.pipeline.held(entry["remote_inv_id"])
        assert held == cli.pipeline.truth(entry, FIRST, LAST)


async def test_status_shows_every_month_as_a_table_and_as_json(cli: Cli) -> None:
    empty = await cli("status")
    assert empty.code == 0
    assert "no data yet" in empty.out

    assert (await cli("sync", "--from", str(FIRST), "--to", str(LAST))).code == 0
    assert (await cli("push", "--wait", "10")).code == 0

    table = await cli("status")
    assert table.code == 0
    worker, *lines = table.out.splitlines()
    assert worker.startswith("account default: last worked by ")  # the CLI push's host:pid
    assert lines[0].split() == [
        "INVERTER",
        "MONTH",
        "KWH",
        "STATE",
        "PROCESS",
        "REDEX",
        "DRIFT",
        "DEADLINE",
        "NOTE",
    ]
    months = FIRST.months_until(LAST) + 1
    rows = [line.split() for line in lines[1:] if line.startswith("RM-")]
    assert len(rows) == months * len(cli.inverters)
    assert all(row[3] == "accepted" and row[5] == "Success" for row in rows)
    assert lines[-1] == f"accepted: {months * len(cli.inverters)}"

    document = json.loads((await cli("status", "--json")).out)
    assert set(document) == {"inverters", "counts", "accounts"}
    assert document["accounts"]["default"]["lease_holder"] is None  # given back
    assert document["counts"] == {"accepted": months * len(cli.inverters)}
    assert [inv["remote_inv_id"] for inv in document["inverters"]] == [
        e["remote_inv_id"] for e in cli.inverters
    ]
    for inverter, entry in zip(document["inverters"], cli.inverters, strict=True):
        assert {"remote_inv_id", "source", "months"} <= set(inverter)
        truth = cli.pipeline.truth(entry, FIRST, LAST)
        assert [m["month"] for m in inverter["months"]] == [
            f"{y:04d}-{m:02d}" for y, m in sorted(truth)
        ]
        for month in inverter["months"]:
            assert set(month) >= MONTH_KEYS
            year, number = map(int, month["month"].split("-"))
            assert month["kwh"] == f"{truth[(year, number)]:.3f}"
            assert isinstance(month["process_id"], int)
            assert month["processing_status"] == "Success"
            assert month["drift_kwh"] is None
            assert month["last_error"] is None


async def test_check_passes_and_then_names_a_missing_esn(cli: Cli) -> None:
    good = await cli("check")
    assert good.code == 0, good.out
    assert not any(line.startswith("FAIL") for line in good.out.splitlines())
    assert "REDEX token obtained" in good.out

    missing = {"remote_inv_id": "RM-NOT-THERE", "esn": "ES9999999999"}
    cli.reconfigure([*cli.inverters, missing])
    bad = await cli("check")
    assert bad.code == 1
    failures = [line for line in bad.out.splitlines() if line.startswith("FAIL")]
    assert len(failures) == 1
    assert "ES9999999999" in failures[0]
    assert "inverters.3" in failures[0]


async def test_check_names_refused_credentials_without_echoing_them(cli: Cli) -> None:
    wrong_code, wrong_secret = "wrong-system-code-4711", "wrong-client-secret-4711"
    cli.reconfigure(
        cli.inverters,
        fusionsolar={"system_code": wrong_code},
        redex={"client_secret": wrong_secret},
    )

    result = await cli("check")

    assert result.code == 1
    failures = [line for line in result.out.splitlines() if line.startswith("FAIL")]
    assert [line.split()[1] for line in failures] == ["FusionSolar:", "REDEX:"]
    for secret in (wrong_code, wrong_secret):
        assert secret not in result.out
        assert secret not in result.err
    outcomes = [outcome for _, outcome in cli.pipeline.fusionsolar.logins]
    assert outcomes == ["refused"], "a refused login is never tried again"


async def test_no_inverters_configured_warns_and_succeeds(cli: Cli) -> None:
    cli.reconfigure([])
    for argv in (("sync",), ("push",), ("check",), ("status", "--json")):
        result = await cli(*argv)
        assert result.code == 0, (argv, result.out, result.err)
    assert cli.pipeline.redex.count("monthly_data") == 0
    warned = await cli("push")
    assert any(
        e["event"] == "config.no_inverters" and e["work"] == "push" for e in events(warned.err)
    )
    assert any(e["level"] == "warning" for e in events(warned.err))


async def test_one_unknown_source_does_not_hold_back_the_others(cli: Cli) -> None:
    missing = {"remote_inv_id": "RM-NOT-THERE", "esn": "ES9999999999"}
    cli.reconfigure([*cli.inverters, missing])

    synced = await cli("sync", "--from", str(FIRST), "--to", str(LAST))
    assert synced.code == 1
    assert "ES9999999999" in synced.err
    assert "inverters.3 (remote_inv_id RM-NOT-THERE)" in synced.err

    pushed = await cli("push")
    assert pushed.code == 1
    months = FIRST.months_until(LAST) + 1
    for entry in cli.inverters[:3]:
        assert len(cli.pipeline.held(entry["remote_inv_id"])) == months
    assert cli.pipeline.held("RM-NOT-THERE") == {}
