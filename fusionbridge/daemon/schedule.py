"""When to wake: APScheduler cron triggers per plant zone; what to do is decided by the jobs.

APScheduler keeps no job store here. Each trigger only enqueues a job name for the daemon's
single worker, and catch-up after downtime is computed from the ledger's last runs through the
same triggers, so the schedule has exactly one definition.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from fusionbridge.settings import Settings

JobName = Literal["sync", "push", "live"]
MISFIRE_GRACE_S = 6 * 3600
LIVE_ANCHOR = datetime(2000, 1, 1, tzinfo=UTC)
"""Live reads fire at whole multiples of the interval since this instant (e.g. :00, :15 ...)."""


def plant_zones(settings: Settings) -> list[ZoneInfo]:
    """Every distinct zone the configured inverters live in (the default zone when none)."""
    names = {inv.timezone or settings.timezone for inv in settings.inverters} or {settings.timezone}
    return [ZoneInfo(name) for name in sorted(names)]


@dataclass(frozen=True)
class Schedule:
    """The sync and push triggers, one per zone, and the questions the daemon asks of them."""

    sync: tuple[CronTrigger, ...]
    push: tuple[CronTrigger, ...]
    live: tuple[Any, ...] = ()

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
            live=live_triggers(settings.live.interval_min),
        )

    def triggers(self, job: JobName) -> tuple[Any, ...]:
        return {"sync": self.sync, "push": self.push, "live": self.live}[job]

    def next_run(self, job: JobName, now: datetime) -> datetime | None:
        """The earliest time any zone's trigger fires after `now`."""
        return _earliest(t.get_next_fire_time(None, now) for t in self.triggers(job))

    def missed(self, job: JobName, last_run: datetime | None, now: datetime) -> bool:
        """Whether a scheduled run fell between the last run and now (always, when never run)."""
        if last_run is None:
            return True
        upcoming = self.next_run(job, last_run)
        return upcoming is not None and upcoming <= now


def live_triggers(interval_min: int) -> tuple[IntervalTrigger, ...]:
    """The live-data trigger: every `interval_min` minutes; none when live data is off."""
    if interval_min <= 0:
        return ()
    return (IntervalTrigger(minutes=interval_min, start_date=LIVE_ANCHOR, timezone=UTC),)


def _earliest(times: Iterable[datetime | None]) -> datetime | None:
    known = [t for t in times if t is not None]
    return min(known) if known else None


def build_scheduler(schedule: Schedule, wake: Callable[[JobName], None]) -> AsyncIOScheduler:
    """An AsyncIOScheduler whose jobs only call `wake(name)`; coalesced, one instance each."""
    scheduler = AsyncIOScheduler(
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": MISFIRE_GRACE_S}
    )
    for job in ("sync", "push", "live"):
        for index, trigger in enumerate(schedule.triggers(job)):
            scheduler.add_job(
                wake, trigger, args=[job], id=f"{job}-{index}", name=f"{job} ({trigger.timezone})"
            )
    return scheduler
