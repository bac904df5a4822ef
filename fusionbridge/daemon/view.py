"""What the HTTP endpoints show: liveness, readiness checks, the /status document, metric gauges."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from fusionbridge import __version__
from fusionbridge.app import Fleet
from fusionbridge.core.health import account_failures, process_failures
from fusionbridge.core.models import SubmissionState
from fusionbridge.daemon.lifecycle import Daemon
from fusionbridge.daemon.status import account_lines
from fusionbridge.daemon.status_cache import StatusCache, iso, parse_query
from fusionbridge.errors import LedgerError
from fusionbridge.fusionsolar.oauth import authorization_problem
from fusionbridge.jobs.runner import JobRunner
from fusionbridge.page.live_json import set_live_metrics
from fusionbridge.store.job_runs import redact_error


class DaemonStatus:
    """Answers the endpoints from the ledger and the daemon's state; every answer is redacted."""

    def __init__(self, fleet: Fleet, daemon: Daemon, runners: Mapping[str, JobRunner]) -> None:
        self.fleet = fleet
        self.rt = fleet.accounts[0]
        self.daemon = daemon
        self.runners = runners
        self.started_at = fleet.clock.now()
        self.cache = StatusCache(fleet)

    def alive(self) -> bool:
        return self.daemon.alive() and all(r.fatal is None for r in self.runners.values())

    async def readiness(self) -> list[str]:
        """Every failing check; with several accounts, each account's own lines say whose."""
        fleet = self.fleet
        now = fleet.clock.now()
        try:
            every = await fleet.ledger.jobs.every_account()
            problems = {
                rt.account: await authorization_problem(
                    rt.settings.fusionsolar_settings(), rt.ledger.oauth
                )
                for rt in fleet.accounts
            }
            ledger_ok = all(r.fatal is None for r in self.runners.values())
        except LedgerError:
            every, problems, ledger_ok = {}, {}, False
        shared = process_failures(ledger_ok=ledger_ok, scheduler_ok=self.daemon.alive())
        lines = [f"{check.name}: {check.detail}" for check in shared]
        if not ledger_ok:
            return lines  # what the ledger would say of each account cannot be read now
        many = len(fleet.accounts) > 1
        for rt in fleet.accounts:
            whose = f"account {rt.account}: " if many else ""
            sync = every.get(rt.account, {}).get("sync")
            errors = self.runners[rt.account].credential_errors.values()
            failing = account_failures(
                now,
                last_sync_success=sync.last_success_at if sync else None,
                credential_error="; ".join(errors) or None,
            )
            authorization = problems.get(rt.account)
            if authorization is not None:  # SPEC §12: only a new `authorize` clears it
                lines.append(f"{whose}fusionsolar_authorization: {authorization}")
            lines += [f"{whose}{check.name}: {check.detail}" for check in failing]
        return lines

    async def _accounts(self) -> dict[str, dict[str, str | None]]:
        """Per account, the process that last held its lease and whether it still does (§14)."""
        names = [rt.account for rt in self.fleet.accounts]
        try:
            return await account_lines(
                self.fleet.ledger, names, self.fleet.settings.storage.lease_ttl_s
            )
        except LedgerError:
            return {}

    async def status(self, pairs: Iterable[tuple[str, str]]) -> list[bytes]:
        """The /status document as parts to send in order; a ValueError for bad parameters.

        The head (times, the job in flight, failing checks) is made per request; the ledger part
        is the cache's bytes, shared by every request until the ledger changes.
        """
        query = parse_query(pairs, (inv.remote_inv_id for inv in self.fleet.view.inverters))
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
            "workers": await self._accounts(),
            "months": query.months,
        }
        try:
            body = await self.cache.body(query)
        except LedgerError as exc:
            head["error"] = redact_error(str(exc))
            return [json.dumps(head).encode()]
        return [json.dumps(head).encode()[:-1], b",", body, b"}"]

    async def refresh_metrics(self) -> None:
        fleet, metrics = self.fleet, self.fleet.metrics
        try:
            gauges = await self.cache.gauges()  # counted again only when the ledger changed
            every = await fleet.ledger.jobs.every_account()
        except LedgerError:
            return
        set_live_metrics(metrics, gauges.plants, fleet.clock.now())
        shown = (s for s in SubmissionState if s is not SubmissionState.SENDING)  # shown as due
        metrics.set_submissions({s.value: 0 for s in shown} | gauges.counts)
        metrics.set_deadlines(gauges.deadline_days)
        metrics.drift_months.set(gauges.drift_months)
        for account, runner in self.runners.items():
            for api in ("fusionsolar", "redex"):
                refused = 1 if api in runner.credential_errors else 0
                metrics.credentials_refused.labels(api=api, account=account).set(refused)
            # from the ledger: a replica shows the jobs another replica ran for the account too
            for name, run in every.get(account, {}).items():
                if run.last_success_at is not None:
                    metrics.job_last_success.labels(job=name, account=account).set(
                        run.last_success_at.timestamp()
                    )
