"""deploy/prometheus/alerts.yml: valid for promtool, firing on the daemon's real metric names.

promtool comes with Debian's `prometheus` package (.ci/run installs it); without it the promtool
tests skip and say why.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from fusionbridge.daemon.metrics import Metrics

RULES = Path(__file__).resolve().parent.parent / "deploy" / "prometheus" / "alerts.yml"
PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(
    PROMTOOL is None, reason="promtool not installed (apt-get install prometheus)"
)
DAY = 86400


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    assert PROMTOOL is not None
    return subprocess.run(
        [PROMTOOL, *args], capture_output=True, text=True, timeout=60, check=False
    )


@needs_promtool
def test_promtool_checks_the_rules() -> None:
    done = promtool("check", "rules", str(RULES))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS: 11 rules found" in done.stdout


def test_rules_use_only_metrics_the_daemon_exports() -> None:
    exported = set(re.findall(r"^# HELP (\w+) ", Metrics().render().decode(), re.MULTILINE))
    used = set(re.findall(r"\b(fusionbridge_\w+)", RULES.read_text(encoding="utf-8")))
    assert used
    assert used <= exported, f"not exported: {sorted(used - exported)}"


def case(series: dict[str, str], alert: str, at: str, labels: dict[str, str], **notes: str) -> Any:
    return {
        "interval": "1m",
        "input_series": [{"series": s, "values": v} for s, v in series.items()],
        "alert_rule_test": [
            {
                "eval_time": at,
                "alertname": alert,
                "exp_alerts": [{"exp_labels": labels, "exp_annotations": notes}],
            }
        ],
    }


def quiet(series: dict[str, str], alert: str, at: str) -> Any:
    return {
        "interval": "1m",
        "input_series": [{"series": s, "values": v} for s, v in series.items()],
        "alert_rule_test": [{"eval_time": at, "alertname": alert, "exp_alerts": []}],
    }


@needs_promtool
def test_each_event_fires_its_alert_and_only_then(tmp_path: Path) -> None:
    resend = "`fusionbridge push --month YYYY-MM --force`"
    tests = [
        case(
            {'fusionbridge_submissions{instance="a", state="rejected"}': "0 1x10"},
            "FusionbridgeMonthRejectedOrFailed",
            "10m",
            {"instance": "a", "state": "rejected", "severity": "critical"},
            summary="1 inverter-months stand rejected at REDEX",
            description=f"See `fusionbridge status`; fix the cause and re-send with {resend}.",
        ),
        quiet(
            {'fusionbridge_submissions{instance="a", state="rejected"}': "0x10"},
            "FusionbridgeMonthRejectedOrFailed",
            "10m",
        ),
        case(
            {
                'fusionbridge_credentials_refused{instance="a", api="fusionsolar", account="north"}': "1"
            },
            "FusionbridgeCredentialsRefused",
            "0m",
            {"instance": "a", "api": "fusionsolar", "account": "north", "severity": "critical"},
            summary="fusionsolar refuses the credentials of account north, "
            "or its authorization is gone",
            description="Nothing is retried in a loop. Fix the credentials "
            "(or run `fusionbridge authorize`).",
        ),
        case(
            # last success at t=0, never again: after two days (and a minute) the alert fires
            {
                'fusionbridge_job_last_success_timestamp_seconds{instance="a", job="sync", account="north"}': "0x3000",
                # another account of the same process syncs every day: it does not hide north
                'fusionbridge_job_last_success_timestamp_seconds{instance="a", job="sync", account="south"}': "0+60x3000",
            },
            "FusionbridgeSyncStale",
            "2881m",
            {"instance": "a", "account": "north", "severity": "warning"},
            summary="No successful FusionSolar sync of account north for more than 2 days",
            description="See /readyz and the sync job's last error on /status.",
        ),
        quiet(
            {'fusionbridge_job_last_success_timestamp_seconds{instance="a", job="sync"}': "0x3000"},
            "FusionbridgeSyncStale",
            "2879m",
        ),
        case(
            {'fusionbridge_irec_deadline_days{instance="a", remote_inv_id="RM-1"}': "31 30"},
            "FusionbridgeIrecDeadlineNear",
            "1m",
            {"instance": "a", "remote_inv_id": "RM-1", "severity": "warning"},
            summary="RM-1: a month not yet accepted has 30 days left to its I-REC deadline",
            description="Production must be issued by 31 May (January to June) or "
            "30 September (July to December) of the next year.",
        ),
        quiet(
            {'fusionbridge_irec_deadline_days{instance="a", remote_inv_id="RM-1"}': "31 31"},
            "FusionbridgeIrecDeadlineNear",
            "1m",
        ),
        case(
            {'fusionbridge_drift_months{instance="a"}': "2"},
            "FusionbridgeFrozenMonthDrift",
            "0m",
            {"instance": "a", "severity": "warning"},
            summary="2 accepted, frozen months changed upstream after acceptance",
            description=f"`fusionbridge status` shows the drift; send a correct value with "
            f"{resend.replace('fusionbridge push', 'push')}.",
        ),
    ]
    unit = tmp_path / "alerts_test.yml"  # JSON is YAML
    unit.write_text(
        json.dumps({"rule_files": [str(RULES)], "evaluation_interval": "1m", "tests": tests})
    )
    done = promtool("test", "rules", str(unit))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout
