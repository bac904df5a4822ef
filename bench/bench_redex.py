"""Push benchmark: 10,000 inverter-years to the REDEX simulator's fixed window, followed to Success.

Run with `uv run python -m bench.bench_redex`. The window is scaled down (5 requests per 0.5 s
by default) so the run takes about half a minute; the ratios carry over to 5 per 5 s.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import random
import resource
import sys
import time
from dataclasses import dataclass
from decimal import Decimal

from fusionbridge.clock import SystemClock
from fusionbridge.core.models import round_kwh
from fusionbridge.core.outcomes import Sent
from fusionbridge.core.push_plan import PushItem
from fusionbridge.logs import configure_logging
from fusionbridge.redex import wire
from fusionbridge.redex.client import RedexClient, make_session
from fusionbridge.simulator.redex import RedexSimulator


@dataclass(frozen=True)
class Result:
    items: int
    requests: int
    minimum: int
    throttled: int
    wall_s: float
    bound_s: float
    sent: int
    succeeded: int
    values_match: bool


def make_items(count: int, seed: int) -> list[PushItem]:
    """`count` distinct inverter-years (two years per inverter), twelve random kWh values each."""
    rng = random.Random(seed)
    return [
        PushItem(
            f"RM-BENCH-{n // 2:05d}",
            2024 + n % 2,
            tuple(round_kwh(Decimal(rng.randrange(0, 10**8)) / 10**4) for _ in range(12)),
            (),
        )
        for n in range(count)
    ]


async def run(count: int, batch_size: int, rate: int, period_s: float) -> Result:
    items = make_items(count, seed=2025)
    sim = RedexSimulator(rate_limit=rate, rate_period_s=period_s, processing_polls=0)
    sim.register(*{item.remote_inv_id for item in items})
    async with sim.serve() as base_url:
        settings = sim.settings(base_url, batch_size=batch_size, timeout_s=30)
        async with make_session(settings) as session:
            client = RedexClient(session, settings, clock=SystemClock())
            started = time.perf_counter()
            answers = [
                (await client.post_monthly(wire.encode(batch)))[0]
                for batch in wire.batches(items, batch_size)
            ]
            process_ids = {a.process_id for a in answers if isinstance(a, Sent)}
            statuses = await client.follow(process_ids, wait_s=600)
            wall_s = time.perf_counter() - started
    minimum = 1 + math.ceil(count / batch_size) + len(process_ids)
    expected = {
        (item.remote_inv_id, item.year, month): value
        for item in items
        for month, value in enumerate(item.values, start=1)
        if value is not None
    }
    return Result(
        items=count,
        requests=len(sim.requests),
        minimum=minimum,
        throttled=sim.count(status=429),
        wall_s=wall_s,
        bound_s=(math.ceil(minimum / rate) - 1) * period_s,
        sent=sum(
            len(batch)
            for batch, a in zip(wire.batches(items, batch_size), answers, strict=True)
            if isinstance(a, Sent)
        ),
        succeeded=sum(1 for s in statuses.values() if s == "Success"),
        values_match=sim.accepted == expected,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--rate", type=int, default=5, help="requests per window")
    parser.add_argument("--period", type=float, default=0.5, help="window length in seconds")
    args = parser.parse_args(argv)
    configure_logging("console", "WARNING")

    r = asyncio.run(run(args.items, args.batch_size, args.rate, args.period))

    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"items: {r.items} inverter-years, batch_size {args.batch_size}, limit {args.rate} / {args.period} s"
    )
    print(
        f"requests made / minimum: {r.requests} / {r.minimum} = {r.requests / r.minimum:.2f}  (target 1.00)"
    )
    print("  minimum = 1 token + ceil(items / batch_size) posts + 1 status poll per ProcessId")
    print(f"429 answers: {r.throttled}  (target 0)")
    print(
        f"wall time / limit's bound: {r.wall_s:.2f} s / {r.bound_s:.2f} s = {r.wall_s / r.bound_s:.3f}"
        "  (target <= 1.10)"
    )
    print("  bound = (ceil(minimum / rate) - 1) * period: when the last minimum request may go")
    print(
        f"items sent: {r.sent}/{r.items}; processes Success: {r.succeeded}; values match: {r.values_match}"
    )
    print(f"peak RSS: {peak_mib:.1f} MiB")
    return 0 if r.values_match and r.sent == r.items else 1


if __name__ == "__main__":
    sys.exit(main())
