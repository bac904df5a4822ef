"""Schedule: trigger fire times across zones, DST and month ends, and catch-up after downtime."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from fusionbridge.daemon.schedule import Schedule, build_scheduler, plant_zones
from fusionbridge.settings import Settings

BASE = {
    "timezone": "Europe/Amsterdam",
    "fusionsolar": {"username": "u", "system_code": "c"},
    "redex": {"base_url": "https://redex.invalid", "access_token": "t"},
}


def settings(**extra: object) -> Settings:
    return Settings.model_validate({**BASE, **extra})


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def test_zones_are_the_inverters_and_default_when_none() -> None:
    assert [z.key for z in plant_zones(settings())] == ["Europe/Amsterdam"]
    many = settings(
        inverters=[
            {"remote_inv_id": "a", "esn": "1", "timezone": "Asia/Tokyo"},
            {"remote_inv_id": "b", "esn": "2"},
            {"remote_inv_id": "c", "esn": "3", "timezone": "Asia/Tokyo"},
        ]
    )
    assert [z.key for z in plant_zones(many)] == ["Asia/Tokyo", "Europe/Amsterdam"]


@pytest.mark.parametrize(
    ("zone", "now", "expected"),
    [
        # 06:30 in Amsterdam is 05:30 UTC in winter and 04:30 UTC in summer.
        ("Europe/Amsterdam", utc(2026, 1, 10, 12), utc(2026, 1, 11, 5, 30)),
        ("Europe/Amsterdam", utc(2026, 7, 10, 12), utc(2026, 7, 11, 4, 30)),
        # The night clocks spring forward (29 March 2026): still 06:30 local, now CEST.
        ("Europe/Amsterdam", utc(2026, 3, 28, 12), utc(2026, 3, 29, 4, 30)),
        # São Paulo is UTC-3 all year: 06:30 local = 09:30 UTC.
        ("America/Sao_Paulo", utc(2026, 12, 31, 10), utc(2027, 1, 1, 9, 30)),
        # Tokyo 06:30 = 21:30 UTC the day before.
        ("Asia/Tokyo", utc(2026, 2, 28, 22), utc(2026, 3, 1, 21, 30)),
    ],
)
def test_next_sync(zone: str, now: datetime, expected: datetime) -> None:
    schedule = Schedule.from_settings(settings(timezone=zone))
    assert schedule.next_run("sync", now) == expected


@pytest.mark.parametrize(
    ("zone", "now", "expected"),
    [
        # push_day 3 at 07:00: after the 3rd, the next is the 3rd of next month (across a year end).
        ("Europe/Amsterdam", utc(2026, 12, 3, 6, 1), utc(2027, 1, 3, 6, 0)),
        ("Europe/Amsterdam", utc(2026, 12, 3, 5, 59), utc(2026, 12, 3, 6, 0)),
        ("Pacific/Kiritimati", utc(2026, 2, 1, 0), utc(2026, 2, 2, 17, 0)),  # UTC+14
        ("Pacific/Pago_Pago", utc(2026, 2, 1, 0), utc(2026, 2, 3, 18, 0)),  # UTC-11
    ],
)
def test_next_push(zone: str, now: datetime, expected: datetime) -> None:
    schedule = Schedule.from_settings(settings(timezone=zone))
    assert schedule.next_run("push", now) == expected


def test_earliest_zone_wins() -> None:
    schedule = Schedule.from_settings(
        settings(
            inverters=[
                {"remote_inv_id": "a", "esn": "1", "timezone": "Asia/Tokyo"},
                {"remote_inv_id": "b", "esn": "2", "timezone": "America/Sao_Paulo"},
            ]
        )
    )
    # At 22:00 UTC on 10 Jan, Tokyo's 06:30 (21:30 UTC) has just passed; the next is Sao Paulo 09:30 UTC.
    assert schedule.next_run("sync", utc(2026, 1, 10, 22)) == utc(2026, 1, 11, 9, 30)


def test_catch_up_after_three_days_down() -> None:
    schedule = Schedule.from_settings(settings())
    now = utc(2026, 2, 4, 12)
    assert schedule.missed("sync", now - timedelta(days=3), now)
    assert schedule.missed("push", utc(2026, 1, 20), now)  # 3 Feb 07:00 passed while down
    assert not schedule.missed("sync", utc(2026, 2, 4, 5, 31), now)  # today's 06:30 CET already ran
    assert not schedule.missed("push", utc(2026, 2, 3, 6, 1), now)
    assert schedule.missed("sync", None, now)


async def test_scheduler_jobs_only_wake() -> None:
    woken: list[str] = []
    scheduler = build_scheduler(Schedule.from_settings(settings()), woken.append)
    jobs = scheduler.get_jobs()
    assert sorted(job.id for job in jobs) == ["live-0", "push-0", "sync-0"]
    for job in jobs:
        job.func(*job.args)
    assert sorted(woken) == ["live", "push", "sync"]
