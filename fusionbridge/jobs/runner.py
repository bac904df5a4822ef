"""One job run with its bookkeeping: ledger record, metrics, log line, standing credential errors.

A job that fails is recorded and retried at its next time; only a ledger that cannot be used is
fatal (the daemon then exits non-zero so Docker or systemd restart it). A PostgreSQL server that
cannot be reached is not: the job fails, /readyz says so, and the job is tried again soon. Refused credentials are
kept as a standing error for /readyz instead: restarting would only spend Huawei's login quota.
"""

from __future__ import annotations

from datetime import datetime
from typing import Final, Literal

from fusionbridge.app import Runtime
from fusionbridge.daemon.schedule import JobName
from fusionbridge.errors import (
    CredentialsError,
    FusionBridgeError,
    LedgerError,
    LedgerUnavailable,
)
from fusionbridge.jobs.lease import Lease, LeaseHeldError, renewed
from fusionbridge.jobs.live import refresh_live
from fusionbridge.jobs.push import push
from fusionbridge.jobs.redex_gate import redex_turn
from fusionbridge.jobs.sources import nothing_configured
from fusionbridge.jobs.sync import sync
from fusionbridge.logs import get_logger
from fusionbridge.store.job_runs import redact_error
from fusionbridge.store.leases import LeaseHolder

log = get_logger(__name__)

PUSH_WAIT_S = 120.0
"""How long a scheduled push follows REDEX processing; what is left is polled next time."""
LEDGER_RETRY_S = 30.0
"""How soon a job that found the PostgreSQL server unreachable is tried again."""
GATE_WAIT_S = 5.0
"""How long a scheduled push waits for its REDEX business account's gate before skipping; the
re-check tries it again within `lease_ttl_s`."""
SKIPPED: Final = "skipped"
"""What `run` returns when another process held the lease: nothing ran, try again soon."""
CREDENTIALS_OF_JOB = {"sync": "fusionsolar", "push": "redex", "live": "fusionsolar"}
"""Which account a successful job proves again, clearing its standing credential error."""


def _quiet(_: LeaseHolder) -> None:
    """A daemon job says nothing while it waits: `job.redex_busy` tells if it gave up."""


class JobRunner:
    """Runs scheduled jobs against one Runtime and remembers what stands in the way of readiness."""

    def __init__(self, rt: Runtime, *, push_wait_s: float = PUSH_WAIT_S) -> None:
        self.rt = rt
        self.push_wait_s = push_wait_s
        self.fatal: LedgerError | None = None
        self.ledger_unavailable: str | None = None
        self.credential_errors: dict[str, str] = {}

    async def last_runs(self) -> dict[str, datetime | None]:
        """When each job last succeeded: a run that failed or was cut short is redone at start."""
        runs = await self.rt.ledger.jobs.runs()
        return {name: run.last_success_at for name, run in runs.items()}

    async def run(self, job: JobName) -> bool | Literal["skipped"] | None:
        """Run `job` under the account lease and record it; whether it succeeded.

        None when the ledger failed (fatal); SKIPPED when another process holds the lease (the
        job did not start and is not recorded: the caller looks again within `lease_ttl_s`).
        """
        rt = self.rt
        try:
            lease = Lease(rt)
            held = await lease.try_take()
            if held is not None:
                log.info(
                    "job.lease_held",
                    job=job,
                    account=rt.account,
                    holder=held.holder,
                    since=held.taken_at.isoformat(),
                    recheck_s=rt.settings.storage.lease_ttl_s,
                )
                return SKIPPED
            async with renewed(lease):
                rt.lease = lease
                try:
                    async with redex_turn(rt, job, wait_s=GATE_WAIT_S, on_wait=_quiet):
                        rt.metrics.job_runs.labels(job=job, account=rt.account).inc()
                        await rt.ledger.jobs.started(job, rt.clock.now(), holder=lease.holder)
                        ok, error = await self._attempt(job)
                        await rt.ledger.jobs.finished(job, rt.clock.now(), ok, error)
                except LeaseHeldError as exc:  # another replica sends to this REDEX account
                    log.info(
                        "job.redex_busy", job=job, account=rt.account, holder=exc.holder.holder
                    )
                    return SKIPPED
                finally:
                    rt.lease = None
        except LedgerUnavailable as exc:
            self.ledger_unavailable = redact_error(str(exc))
            log.error(
                "job.failed",
                job=job,
                account=rt.account,
                error=self.ledger_unavailable,
                ledger_unavailable=True,
            )
            rt.metrics.job_failures.labels(job=job, account=rt.account).inc()
            return False
        except LedgerError as exc:
            log.error(
                "job.failed", job=job, account=rt.account, error=redact_error(str(exc)), fatal=True
            )
            rt.metrics.job_failures.labels(job=job, account=rt.account).inc()
            self.fatal = exc
            return None
        self.ledger_unavailable = None
        if ok:
            rt.metrics.job_last_success.labels(job=job, account=rt.account).set(
                rt.clock.now().timestamp()
            )
            self.credential_errors.pop(CREDENTIALS_OF_JOB[job], None)
        else:
            rt.metrics.job_failures.labels(job=job, account=rt.account).inc()
        return ok

    async def _attempt(self, job: JobName) -> tuple[bool, str | None]:
        """Run the job's use case; a failure becomes (False, message), a ledger failure escapes."""
        rt = self.rt
        started = rt.clock.monotonic()
        try:
            if nothing_configured(rt.settings, job):
                pass
            elif job == "sync":
                await sync(rt, daily=True)
            elif job == "live":
                await refresh_live(rt)
            else:
                await push(rt, wait_s=self.push_wait_s)
        except LedgerError:
            raise
        except CredentialsError as exc:
            message = redact_error(f"{exc.api} refused the credentials: {exc}")
            self.credential_errors[exc.api] = message
            log.error("job.failed", job=job, account=rt.account, error=message, credentials=exc.api)
            return False, message
        except FusionBridgeError as exc:
            log.error("job.failed", job=job, account=rt.account, error=redact_error(str(exc)))
            return False, str(exc)
        except Exception as exc:  # a bug must not stop the daemon: log it, retry next time
            log.exception("job.failed", job=job, account=rt.account, error=redact_error(repr(exc)))
            return False, repr(exc)
        log.info(
            "job.finished",
            job=job,
            account=rt.account,
            duration_s=round(rt.clock.monotonic() - started, 3),
        )
        return True, None
