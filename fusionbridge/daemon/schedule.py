"""When to wake: APScheduler cron triggers per plant zone; what to do is decided by the jobs.

APScheduler keeps no job store here. Each trigger only enqueues a job name for the daemon's
single worker, and catch-up after downtime is computed from the ledger's last runs through the
same triggers, so the schedule has exactly one definition.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal
from zoneinfo import ZoneInfo

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger

from fusionbridge.settings import Settings

JobName = Literal["sync", "push"]
MISFIRE_GRACE_S = 6 * 3600


def plant_zones(settings: Settings) -> list[ZoneInfo]:
    """Every distinct zone the configured inverters live in (the default zone when none)."""
    names = {inv.timezone or settings.timezone for inv in settings.inverters} or {settings.timezone}
    return [ZoneInfo(name) for name in sorted(names)]


@dataclass(frozen=True)
class Schedule:
    """The sync and push triggers, one per zone, and the questions the daemon asks of them."""

    sync: tuple[CronTrigger, ...]
    push: tuple[CronTrigger, ...]

    @classmethod
    def from_settings(cls, settings: Settings) -> Schedule:
        s = settings.schedule
        zones = plant_zones(settings)
        return cls(
            sync=tuple(
                CronTrigger(hour=s.sync_at.hour, minute=s.sync_at.minute, timezone=zone)
                for zone in zones
            ),
            push=tuple(
                CronTrigger(
                    day=s.push_day, hour=s.push_at.hour, minute=s.push_at.minute, timezone=zone
                )
                for zone in zones
            ),
        )

    def triggers(self, job: JobName) -> tuple[CronTrigger, ...]:
        return self.sync if job == "sync" else self.push

    def next_run(self, job: JobName, now: datetime) -> datetime | None:
        """The earliest time any zone's trigger fires after `now`."""
        return _earliest(t.get_next_fire_time(None, now) for t in self.triggers(job))

    def missed(self, job: JobName, last_run: datetime | None, now: datetime) -> bool:
        """Whether a scheduled run fell between the last run and now (always, when never run)."""
        if last_run is None:
            return True
        upcoming = self.next_run(job, last_run)
        return upcoming is not None and upcoming <= now


def _earliest(times: Iterable[datetime | None]) -> datetime | None:
    known = [t for t in times if t is not None]
    return min(known) if known else None


def build_scheduler(schedule: Schedule, wake: Callable[[JobName], None]) -> AsyncIOScheduler:
    """An AsyncIOScheduler whose jobs only call `wake(name)`; coalesced, one instance each."""
    scheduler = AsyncIOScheduler(
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": MISFIRE_GRACE_S}
    )
    for job in ("sync", "push"):
        for index, trigger in enumerate(schedule.triggers(job)):
            scheduler.add_job(
                wake, trigger, args=[job], id=f"{job}-{index}", name=f"{job} ({trigger.timezone})"
            )
    return scheduler
