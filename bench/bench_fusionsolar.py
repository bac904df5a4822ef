"""Sync benchmark: month values of 1,000 inverters of two types over 12 months, from the simulator.

Run with `uv run python -m bench.bench_fusionsolar`. The client and the simulator share a scaled
pacing window (0.2 s instead of 65 s), so the run takes seconds; the call count and the ratio to
the pacing bound carry over to the real interval.

Reported: FusionSolar calls made against the minimum the batching rules allow (a login, the
`stations` pages, `getDevList` per 100 plants, `getDevKpiMonth` per 100 devices of one type and
calendar year), wall time against the bound the per-endpoint interval imposes on that sequence,
whether every value equals the simulator's truth, and the process's peak RSS.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import resource
import sys
import time
from collections import Counter
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from fusionbridge.clock import SystemClock
from fusionbridge.core.models import Month, month_range
from fusionbridge.core.sync_plan import collect_instant
from fusionbridge.fusionsolar.client import FusionSolarClient, make_session
from fusionbridge.fusionsolar.state import MemoryPacingStore
from fusionbridge.logs import configure_logging
from fusionbridge.simulator.fleet import FleetSpec
from fusionbridge.simulator.fusionsolar import FusionSolarSimulator, SimulatorConfig

ZONE = ZoneInfo("Europe/Amsterdam")


@dataclass(frozen=True)
class Result:
    calls: Counter[str]
    minimum: int
    rate_limited: int
    wall_s: float
    bound_s: float
    values: int
    matching: int
    months: list[Month]


def twelve_months_across_a_year(now_month: Month, count: int) -> list[Month]:
    """`count` months ending this month, or last month in December, so a new year falls inside."""
    last = now_month.previous() if now_month.month == 12 else now_month
    return month_range(last.shift(1 - count), last)


async def run(plants: int, inverters: int, interval_s: float, count: int) -> Result:
    sim = FusionSolarSimulator(
        SimulatorConfig(
            clock=SystemClock(),
            fleet=FleetSpec(plants=plants, inverters=inverters),
            window_s=interval_s,
            # Loopback latency varies by a few ms between requests; real Huawei is as lenient.
            window_slack_s=min(0.02, interval_s / 10),
        )
    )
    clock = SystemClock()
    months = twelve_months_across_a_year(Month.containing(clock.now(), ZONE), count)
    years = sorted({m.year for m in months})
    async with sim.serve() as base_url:
        settings = sim.settings(base_url, min_interval_s=interval_s, timeout_s=30)
        async with make_session(settings) as session:
            client = FusionSolarClient(
                session, settings, MemoryPacingStore(), clock=clock, zone=ZONE
            )
            started = time.perf_counter()
            plant_list = await client.plants()
            devices = await client.devices([p.code for p in plant_list])
            inverters_found = [d for d in devices if d.is_inverter]
            rows = []
            for year in years:
                newest = max(m for m in months if m.year == year)
                at = collect_instant(newest, clock.now())
                assert at is not None, newest
                rows += await client.device_kpi("month", inverters_found, at)
            wall = time.perf_counter() - started
    zones = {d.id: sim.fleet.zone_of(d) for d in sim.fleet.inverters()}
    wanted = set(months)
    values = matching = 0
    for row in rows:
        ident = int(row.object_id)
        month = Month.of(row.local_date(zones[ident]))
        if month not in wanted:
            continue
        values += 1
        matching += row.values["product_power"] == sim.expected_month_kwh(ident, month)
    per_type = Counter(d.type_id for d in inverters_found)
    batches = sum(math.ceil(n / 100) for n in per_type.values())
    pages = math.ceil(len(plant_list) / 100)
    minimum = 1 + pages + pages + batches * len(years)
    # Each endpoint's calls run back to back; the three endpoints follow one another.
    bound = interval_s * ((pages - 1) + (pages - 1) + (batches * len(years) - 1))
    calls = Counter({endpoint: sim.count(endpoint) for endpoint in sim.calls})
    rate_limited = sum(calls.values()) - sum(sim.served.values()) - calls["login"]
    return Result(calls, minimum, rate_limited, wall, bound, values, matching, months)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--plants", type=int, default=250)
    parser.add_argument("--inverters", type=int, default=1000)
    parser.add_argument("--interval", type=float, default=0.2, help="pacing window in seconds")
    parser.add_argument("--months", type=int, default=12)
    args = parser.parse_args(argv)
    configure_logging("console", "WARNING")
    result = asyncio.run(run(args.plants, args.inverters, args.interval, args.months))
    made = sum(result.calls.values())
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"fleet: {args.inverters} inverters (types 1 and 38) over {args.plants} plants; "
        f"months {result.months[0]}..{result.months[-1]}; pacing window {args.interval} s"
    )
    print(f"calls by endpoint: {dict(sorted(result.calls.items()))}")
    print(
        f"FusionSolar calls made / minimum possible: {made} / {result.minimum} = {made / result.minimum:.2f}"
    )
    print(f"answers refused for pacing (407): {result.rate_limited}")
    print(
        f"wall time / pacing bound: {result.wall_s:.2f} s / {result.bound_s:.2f} s "
        f"= {result.wall_s / result.bound_s:.3f}"
    )
    print(f"month values equal to the simulator's truth: {result.matching} / {result.values}")
    print(f"peak RSS: {peak_mb:.1f} MiB")
    ok = made == result.minimum and result.matching == result.values and result.rate_limited == 0
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
