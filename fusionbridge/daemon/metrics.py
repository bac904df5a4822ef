"""Prometheus metrics of the daemon, on a registry of its own so tests and demo never collide."""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Info
from prometheus_client.exposition import generate_latest

from fusionbridge import __version__
from fusionbridge.store.leases import DEFAULT_ACCOUNT


@dataclass
class Metrics:
    """Every metric the daemon exports; `record_request` fits the clients' `on_request` hook."""

    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        r = self.registry
        self.job_runs = Counter(
            "fusionbridge_job_runs", "Job runs started", ["job", "account"], registry=r
        )
        self.job_failures = Counter(
            "fusionbridge_job_failures", "Job runs that failed", ["job", "account"], registry=r
        )
        self.job_last_success = Gauge(
            "fusionbridge_job_last_success_timestamp_seconds",
            "Unix time of the last successful run",
            ["job", "account"],
            registry=r,
        )
        self.upstream_requests = Counter(
            "fusionbridge_upstream_requests",
            "Requests sent upstream by outcome",
            ["api", "endpoint", "outcome", "account"],
            registry=r,
        )
        self.rate_limit_waits = Counter(
            "fusionbridge_rate_limit_waits",
            "Times upstream told us to slow down",
            ["api", "account"],
            registry=r,
        )
        self.submissions = Gauge(
            "fusionbridge_submissions",
            "Inverter-months in the ledger by state",
            ["state"],
            registry=r,
        )
        self.plant_today_kwh = Gauge(
            "fusionbridge_plant_today_kwh", "Plant yield today so far (live)", ["plant"], registry=r
        )
        self.plant_lifetime_kwh = Gauge(
            "fusionbridge_plant_lifetime_kwh", "Plant lifetime yield (live)", ["plant"], registry=r
        )
        self.plant_health = Gauge(
            "fusionbridge_plant_health",
            "FusionSolar plant health: 1 disconnected, 2 faulty, 3 healthy",
            ["plant"],
            registry=r,
        )
        self.plant_data_age_seconds = Gauge(
            "fusionbridge_plant_data_age_seconds",
            "Seconds since the plant's live figures were read",
            ["plant"],
            registry=r,
        )
        self.irec_deadline_days = Gauge(
            "fusionbridge_irec_deadline_days",
            "Days left to the nearest I-REC issuance deadline of a month not accepted",
            ["remote_inv_id"],
            registry=r,
        )
        self.drift_months = Gauge(
            "fusionbridge_drift_months",
            "Frozen months whose FusionSolar value moved after acceptance",
            registry=r,
        )
        self.credentials_refused = Gauge(
            "fusionbridge_credentials_refused",
            "1 while an upstream refuses the credentials or the authorization is gone",
            ["api", "account"],
            registry=r,
        )
        build = Info("fusionbridge_build", "Version of the running fusionbridge", registry=r)
        build.info({"version": __version__})

    def record_request(
        self, api: str, endpoint: str, outcome: str, account: str = DEFAULT_ACCOUNT
    ) -> None:
        """Count one upstream request; rate-limit answers also count as a wait."""
        self.upstream_requests.labels(
            api=api, endpoint=endpoint, outcome=outcome, account=account
        ).inc()
        if outcome in ("rate_limited", "throttled", "daily_cap"):
            self.rate_limit_waits.labels(api=api, account=account).inc()

    def set_submissions(self, counts: dict[str, int]) -> None:
        for state, count in counts.items():
            self.submissions.labels(state=state).set(count)

    def set_deadlines(self, days_left: dict[str, int]) -> None:
        """The nearest deadline per inverter; an inverter with every month accepted has none."""
        self.irec_deadline_days.clear()
        for remote_inv_id, days in days_left.items():
            self.irec_deadline_days.labels(remote_inv_id=remote_inv_id).set(days)

    def render(self) -> bytes:
        """The Prometheus text exposition."""
        return generate_latest(self.registry)
