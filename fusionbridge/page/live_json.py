"""The live plant figures as /status JSON and as Prometheus gauges, from the same facts as the page."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from fusionbridge.daemon.metrics import Metrics
from fusionbridge.page.facts import PlantFacts


def _text(value: Decimal | None) -> str | None:
    return None if value is None else f"{value:.3f}"


def live_json(plants: Sequence[PlantFacts]) -> list[dict[str, Any]]:
    """Per plant: today, lifetime, health, when read, and today's hourly kWh.

    No age: /status serves this from a cache, so the reader compares `fetched_at` with the
    document's `now` (the metric `fusionbridge_plant_data_age_seconds` is computed per scrape).
    """
    return [
        {
            "plant_code": p.code,
            "name": p.name,
            "today_kwh": _text(p.today_kwh),
            "lifetime_kwh": _text(p.lifetime_kwh),
            "health": p.health,
            "fetched_at": None
            if p.fetched_at is None
            else p.fetched_at.astimezone(UTC).isoformat(),
            "hourly_kwh": {f"{hour:02d}": _text(kwh) for hour, kwh in sorted(p.hours.items())},
        }
        for p in plants
    ]


def set_live_metrics(metrics: Metrics, plants: Sequence[PlantFacts], now: datetime) -> None:
    """Bring the plant gauges up to date; a plant with no reading yet exports nothing."""
    for p in plants:
        if p.fetched_at is None:
            continue
        if p.today_kwh is not None:
            metrics.plant_today_kwh.labels(plant=p.code).set(float(p.today_kwh))
        if p.lifetime_kwh is not None:
            metrics.plant_lifetime_kwh.labels(plant=p.code).set(float(p.lifetime_kwh))
        if p.health is not None:
            metrics.plant_health.labels(plant=p.code).set(p.health)
        metrics.plant_data_age_seconds.labels(plant=p.code).set(
            (now - p.fetched_at).total_seconds()
        )
