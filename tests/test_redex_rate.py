"""Real time, real sockets: 200 requests at a fixed window of random phase draw no 429."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp.test_utils import TestServer

from fusionbridge.clock import SystemClock
from fusionbridge.core.outcomes import Sent
from fusionbridge.core.push_plan import PushItem
from fusionbridge.redex import wire
from fusionbridge.redex.client import RedexClient, make_session
from fusionbridge.simulator.redex import RedexSimulator

LIMIT, PERIOD_S = 10, 0.2


async def test_two_hundred_requests_draw_no_429(aiohttp_server: Any) -> None:
    sim = RedexSimulator(rate_limit=LIMIT, rate_period_s=PERIOD_S, processing_polls=1000)
    sim.register(*(f"INV-{n}" for n in range(20)))
    server: TestServer = await aiohttp_server(sim.app)
    settings = sim.settings(str(server.make_url("")).rstrip("/"), batch_size=1)
    loop = asyncio.get_running_loop()

    async with make_session(settings) as session:
        client = RedexClient(session, settings, clock=SystemClock())
        started = loop.time()
        empty = (None,) * 12
        answers = [
            (await client.post_monthly(wire.encode([PushItem(f"INV-{n}", 2025, empty, ())])))[0]
            for n in range(20)
        ]
        process_ids = [a.process_id for a in answers if isinstance(a, Sent)]
        polls = [client.status(process_ids[n % 20]) for n in range(179)]
        await asyncio.gather(*polls)
        elapsed = loop.time() - started

    assert len(sim.requests) == 200  # 1 token, 20 submissions, 179 polls
    assert sim.count(status=429) == 0, f"phase {sim.phase_s:.3f}"
    assert elapsed >= (200 // LIMIT - 1) * PERIOD_S  # the limit really was the bottleneck
