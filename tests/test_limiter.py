"""The sliding-window limiter: no window of any phase ever holds more than the limit."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime

import pytest
from aiolimiter import AsyncLimiter

from fusionbridge.clock import SystemClock, VirtualClock
from fusionbridge.redex.limiter import IP_LIMIT, IP_PERIOD_S, Window, WindowLimiter, redex_limiter
from fusionbridge.settings import RedexSettings


def busiest_window(times: Sequence[float], period: float) -> int:
    """Most arrivals in any half-open window [t, t + period): the worst fixed-window phase."""
    ordered = sorted(times)
    return max(sum(1 for t in ordered[i:] if t < start + period) for i, start in enumerate(ordered))


def fixed_window_peak(times: Sequence[float], period: float, phase: float) -> int:
    counts: dict[int, int] = {}
    for t in times:
        index = int((t - phase) // period)
        counts[index] = counts.get(index, 0) + 1
    return max(counts.values())


async def drive(
    acquire: Callable[[], Awaitable[object]], now: Callable[[], float], n: int
) -> list[float]:
    """Start `n` requests at once; each records when it was let through."""
    times: list[float] = []

    async def one() -> None:
        await acquire()
        times.append(now())

    await asyncio.gather(*(one() for _ in range(n)))
    return times


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock(datetime(2025, 1, 1, tzinfo=UTC))


async def test_never_more_than_the_limit_in_any_window(clock: VirtualClock) -> None:
    limiter = WindowLimiter(Window(5, 5.0), clock=clock)

    times = await drive(limiter.acquire, clock.monotonic, 52)

    assert busiest_window(times, 5.0) == 5
    span = Window(5, 5.0).span_s
    assert max(times) == pytest.approx(10 * span)  # 52 requests: 11 rounds of 5, no idle time


async def test_waiters_are_admitted_in_arrival_order(clock: VirtualClock) -> None:
    limiter = WindowLimiter(Window(2, 1.0), clock=clock)
    order: list[int] = []

    async def one(n: int) -> None:
        await limiter.acquire()
        order.append(n)

    tasks = []
    for n in range(9):
        tasks.append(asyncio.create_task(one(n)))
        await asyncio.sleep(0)
    await asyncio.gather(*tasks)

    assert order == list(range(9))
    assert limiter.waits == 4


async def test_every_window_holds(clock: VirtualClock) -> None:
    limiter = WindowLimiter(Window(5, 1.0), Window(8, 20.0), clock=clock)

    times = await drive(limiter.acquire, clock.monotonic, 17)

    assert busiest_window(times, 1.0) <= 5
    assert busiest_window(times, 20.0) == 8
    assert times[8] >= times[0] + 20.0


def test_settings_give_the_account_window_and_the_ip_window(clock: VirtualClock) -> None:
    settings = RedexSettings.model_validate(
        {
            "base_url": "https://uat-api.redex.eco",
            "access_token": "t",
            "rate_limit": 4,
            "rate_period_s": 2,
        }
    )

    limiter = redex_limiter(settings, clock)

    assert [(w.limit, w.period_s) for w in limiter.windows] == [(4, 2.0), (IP_LIMIT, IP_PERIOD_S)]
    assert limiter.windows[0].span_s == pytest.approx(2.1)
    assert limiter.windows[1].span_s == pytest.approx(300.25)


async def test_jitter_below_the_margin_never_breaks_a_fixed_window(clock: VirtualClock) -> None:
    window = Window(5, 5.0)
    limiter = WindowLimiter(window, clock=clock)
    sent = await drive(limiter.acquire, clock.monotonic, 100)
    rng = random.Random(42)
    margin = window.span_s - window.period_s

    for _ in range(200):
        arrivals = [t + rng.uniform(0, margin) for t in sent]
        phase = rng.uniform(0, window.period_s)
        assert fixed_window_peak(arrivals, window.period_s, phase) <= 5


async def test_a_naive_leaky_bucket_bursts_past_a_fixed_window_and_ours_does_not() -> None:
    loop = asyncio.get_running_loop()
    period = 0.1
    bucket = AsyncLimiter(5, period)  # "5 per period", configured the obvious way

    async def leaky() -> None:
        async with bucket:
            pass

    ours = WindowLimiter(Window(5, period), clock=SystemClock())

    leaky_times = await drive(leaky, loop.time, 20)
    our_times = await drive(ours.acquire, loop.time, 20)

    assert busiest_window(leaky_times, period) >= 8  # the burst of 5, then a drip every 20 ms
    assert busiest_window(our_times, period) <= 5
    start = min(leaky_times)
    assert fixed_window_peak(leaky_times, period, phase=start) > 5


async def sequential_arrivals(
    limiter: WindowLimiter, clock: VirtualClock, delays: Sequence[float], *, release: bool
) -> list[float]:
    """One request at a time: each reaches upstream `delay` after its send, answered at once."""
    arrivals = []
    for delay in delays:
        slot = await limiter.acquire()
        clock.advance(delay)
        arrivals.append(clock.monotonic())
        clock.advance(0.01)
        if release:
            limiter.release(slot)
    return arrivals


@pytest.mark.parametrize(("release", "peak"), [(False, 6), (True, 5)])
async def test_answered_requests_hold_the_window_whatever_their_delay(
    clock: VirtualClock, release: bool, peak: int
) -> None:
    limiter = WindowLimiter(Window(5, 5.0), clock=clock)
    delays = [2.0] + [0.0] * 9  # the first request needs a slow new connection

    arrivals = await sequential_arrivals(limiter, clock, delays, release=release)

    assert fixed_window_peak(arrivals, 5.0, phase=2.0) == peak
    assert busiest_window(arrivals, 5.0) == peak


async def test_slots_in_flight_are_kept_until_released(clock: VirtualClock) -> None:
    limiter = WindowLimiter(Window(1, 1.0), Window(3, 100.0), clock=clock)
    stuck = await limiter.acquire()
    clock.advance(500.0)  # far beyond every window, still unanswered
    assert limiter.delay() == 0

    limiter.release(stuck)

    assert limiter.delay() == pytest.approx(1.05)
    async with limiter.slot() as slot:
        inside = slot.open
    assert (inside, slot.open) == (True, False)
    assert slot.at == pytest.approx(501.05)
    assert limiter.delay() == pytest.approx(1.05)


async def test_business_accounts_keep_their_own_window_under_one_shared_ip_window() -> None:
    """SPEC §14: 5 per 5 s per REDEX business account, and one per-IP window for them all."""
    clock = VirtualClock(datetime(2026, 3, 1, tzinfo=UTC))
    ip = WindowLimiter(
        Window(6, 60.0, margin_s=0.0), clock=clock
    )  # a small stand-in for 3000/300 s
    accounts = [
        WindowLimiter(Window(5, 5.0, margin_s=0.0), clock=clock, parent=ip) for _ in range(2)
    ]
    times: dict[int, list[float]] = {0: [], 1: []}

    async def one(index: int) -> None:
        async with accounts[index].slot():
            times[index].append(clock.monotonic())

    await asyncio.gather(*(one(i % 2) for i in range(10)))
    every = sorted(times[0] + times[1])
    assert busiest_window(every, 60.0) <= 6, "the shared per-IP window holds"
    for own in times.values():
        assert busiest_window(own, 5.0) <= 5, "each business account's window holds"
    assert every[5] - every[0] < 1e-9, "six go at once"
    assert every[6] - every[0] >= 60.0, "the seventh waits for the IP window"
