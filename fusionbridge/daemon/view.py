"""What the HTTP endpoints show: liveness, readiness checks, the /status document, metric gauges."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from fusionbridge import __version__
from fusionbridge.app import Runtime
from fusionbridge.core.health import readiness_failures
from fusionbridge.core.models import SubmissionState
from fusionbridge.daemon.lifecycle import Daemon
from fusionbridge.daemon.status_cache import StatusCache, iso, parse_query
from fusionbridge.errors import LedgerError
from fusionbridge.fusionsolar.oauth import authorization_problem
from fusionbridge.jobs.runner import JobRunner
from fusionbridge.page.live_json import set_live_metrics
from fusionbridge.store.job_runs import redact_error


class DaemonStatus:
    """Answers the endpoints from the ledger and the daemon's state; every answer is redacted."""

    def __init__(self, rt: Runtime, daemon: Daemon, runner: JobRunner) -> None:
        self.rt = rt
        self.daemon = daemon
        self.runner = runner
        self.started_at = rt.clock.now()
        self.cache = StatusCache(rt)

    def alive(self) -> bool:
        return self.daemon.alive() and self.runner.fatal is None

    async def readiness(self) -> list[str]:
        authorization = None
        try:
            runs = await self.rt.ledger.jobs.runs()
            ledger_ok = self.runner.fatal is None
            authorization = await authorization_problem(
                self.rt.settings.fusionsolar_settings(), self.rt.ledger.oauth
            )
        except LedgerError:
            runs, ledger_ok = {}, False
        sync = runs.get("sync")
        failing = readiness_failures(
            self.rt.clock.now(),
            last_sync_success=sync.last_success_at if sync else None,
            credential_error="; ".join(self.runner.credential_errors.values()) or None,
            ledger_ok=ledger_ok,
            scheduler_ok=self.daemon.alive(),
        )
        lines = [f"{check.name}: {check.detail}" for check in failing]
        if authorization is not None:  # SPEC §12: only a new `authorize` clears it
            lines.insert(0, f"fusionsolar_authorization: {authorization}")
        return lines

    async def status(self, pairs: Iterable[tuple[str, str]]) -> list[bytes]:
        """The /status document as parts to send in order; a ValueError for bad parameters.

        The head (times, the job in flight, failing checks) is made per request; the ledger part
        is the cache's bytes, shared by every request until the ledger changes.
        """
        query = parse_query(pairs, (inv.remote_inv_id for inv in self.rt.settings.inverters))
        upcoming = self.daemon.next_runs()
        head: dict[str, Any] = {
            "version": __version__,
            "started_at": iso(self.started_at),
            "now": iso(self.rt.clock.now()),
            "next_sync_at": iso(upcoming.get("sync")),
            "next_push_at": iso(upcoming.get("push")),
            "next_live_at": iso(upcoming.get("live")),
            "job_in_flight": self.daemon.current_job,
            "failing_checks": await self.readiness(),
            "months": query.months,
        }
        try:
            body = await self.cache.body(query)
        except LedgerError as exc:
            head["error"] = redact_error(str(exc))
            return [json.dumps(head).encode()]
        return [json.dumps(head).encode()[:-1], b",", body, b"}"]

    async def refresh_metrics(self) -> None:
        rt = self.rt
        try:
            gauges = await self.cache.gauges()  # counted again only when the ledger changed
            runs = await rt.ledger.jobs.runs()
        except LedgerError:
            return
        set_live_metrics(rt.metrics, gauges.plants, rt.clock.now())
        shown = (s for s in SubmissionState if s is not SubmissionState.SENDING)  # shown as due
        rt.metrics.set_submissions({s.value: 0 for s in shown} | gauges.counts)
        rt.metrics.set_deadlines(gauges.deadline_days)
        rt.metrics.drift_months.set(gauges.drift_months)
        for api in ("fusionsolar", "redex"):
            refused = 1 if api in self.runner.credential_errors else 0
            rt.metrics.credentials_refused.labels(api=api).set(refused)
        for name, run in runs.items():
            if run.last_success_at is not None:
                rt.metrics.job_last_success.labels(job=name).set(run.last_success_at.timestamp())
