"""The operator's page as a person sees it: a real headless chromium against the daemon on loopback.

Every request the page makes is recorded (none may leave the daemon's origin), console errors
fail the test, bar heights are measured in the browser, and each test saves a screenshot.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

from fusionbridge.core.models import Month
from fusionbridge.jobs.sources import resolve
from tests.page_harness import (
    CHROMIUM,
    CHROMIUM_ARGS,
    Served,
    artifact,
    requires_chromium,
    served_fleet,
)

pytestmark = requires_chromium
LEDGER = "ledger.db"
"""SQLite only, on purpose: the page reads the ledger through the daemon's view, which runs on
both backends in test_page_status and test_status_cache; the troubled fleet is written straight
into a SQLite file; and a chromium run is among the slowest tests."""


@asynccontextmanager
async def chromium() -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            await browser.close()


@asynccontextmanager
async def opened(browser: Any, url: str, *, javascript: bool = True) -> AsyncIterator[Any]:
    """A page at `url` that fails the test on a console error or a request to another origin."""
    context = await browser.new_context(
        java_script_enabled=javascript, viewport={"width": 1440, "height": 1000}
    )
    page = await context.new_page()
    requests: list[str] = []
    errors: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    answer = await page.goto(url)
    assert answer is not None
    assert answer.status == 200
    try:
        yield page
    finally:
        origin = url.rstrip("/")
        assert requests, "the browser recorded no request at all"
        strangers = [r for r in requests if not r.startswith(origin + "/")]
        assert strangers == [], f"the page reached beyond the daemon: {strangers}"
        assert errors == [], f"console errors: {errors}"
        await context.close()


async def bars(page: Any, inverter: str) -> list[dict[str, Any]]:
    """Each bar of one inverter's chart with its kWh and its height as drawn on screen."""
    result: list[dict[str, Any]] = await page.eval_on_selector_all(
        f'figure[data-inverter="{inverter}"] svg rect.bar',
        """els => els.map(e => ({month: e.dataset.month, kwh: e.dataset.kwh,
            height: e.getBoundingClientRect().height, cls: e.getAttribute('class')}))""",
    )
    return result


async def ledger_kwh(served: Served, inverter: str) -> dict[str, Decimal]:
    resolution = await resolve(served.rt)
    source = next(r.source for r in resolution.inverters if r.target.remote_inv_id == inverter)
    return {
        str(m): r.kwh for (_, m), r in (await served.rt.ledger.energy.monthly({source})).items()
    }


async def assert_charts_in_proportion(page: Any, served: Served) -> None:
    for entry in served.inverters:
        inverter = entry["remote_inv_id"]
        drawn = await bars(page, inverter)
        assert len(drawn) == 13, f"{inverter}: {len(drawn)} bars"
        truth = await ledger_kwh(served, inverter)
        valued = [b for b in drawn if b["kwh"]]
        assert valued, f"{inverter} has no bar with a value"
        for bar in valued:
            assert Decimal(bar["kwh"]) == truth[bar["month"]], f"{inverter} {bar['month']}"
        tallest = max(valued, key=lambda b: Decimal(b["kwh"]))
        scale = tallest["height"] / float(tallest["kwh"])
        assert tallest["height"] > 50, "the tallest bar is drawn tall enough to compare"
        for bar in valued:
            expected = float(bar["kwh"]) * scale
            assert abs(bar["height"] - expected) <= 1.0, f"{inverter} {bar['month']}: {bar}"


async def test_a_healthy_fleet_reads_at_a_glance(tmp_path: Path) -> None:
    async with (
        served_fleet(tmp_path / LEDGER, troubled=False) as (served, _),
        chromium() as browser,
        opened(browser, served.base + "/") as page,
    ):
        assert (await page.inner_text("#readiness")).strip() == "✓ Ready"
        refresh = await page.get_attribute('meta[http-equiv="refresh"]', "content")
        assert refresh == "60"
        for entry in served.inverters:
            row = page.locator(f'tr[data-inverter="{entry["remote_inv_id"]}"]')
            assert await row.count() == 1
            assert entry["remote_inv_id"] in await row.inner_text()
            closed = row.locator("td.cell[data-state]")
            states = await closed.evaluate_all("els => els.map(e => e.dataset.state)")
            assert len(states) == 13
            assert all(s == "accepted" for s in states[1:-1]), states  # closed months
        await assert_charts_in_proportion(page, served)
        plants = page.locator(".plant")
        assert await plants.count() >= 4
        first = await plants.first.inner_text()
        for words in ("today so far", "kWh", "lifetime", "healthy"):
            assert words in first
        assert await page.locator(".plant svg rect.hour").count() > 0
        serious = page.locator("#problems li.error, #problems li.warning")
        assert await serious.count() == 0, await page.inner_text("#problems")
        health = await page.inner_text("section.health")
        assert "getDevKpiMonth" in health
        assert "sync" in health
        await page.screenshot(path=artifact("page-healthy.png"), full_page=True)


def cell(page: Any, inverter: str, month: Month) -> Any:
    return page.locator(f'tr[data-inverter="{inverter}"] td.cell[data-month="{month}"]')


async def test_a_troubled_fleet_shows_each_problem_and_what_to_do(tmp_path: Path) -> None:
    async with (
        served_fleet(tmp_path / LEDGER, troubled=True) as (served, trouble),
        chromium() as browser,
    ):
        assert trouble is not None
        async with opened(browser, served.base + "/") as page:
            rejected = cell(page, *trouble.rejected)
            held = cell(page, *trouble.held)
            drifting = cell(page, *trouble.drifting[:2])
            unknown = cell(page, *trouble.unknown[:2])
            assert "✗" in await rejected.inner_text()
            assert "rejected" in await rejected.inner_text()
            assert "‖" in await held.inner_text()
            assert "held" in await held.inner_text()
            assert "Δ" in await drifting.inner_text()
            assert "◇" in await unknown.inner_text()
            assert "quarantined" in await unknown.inner_text()
            # Colour and symbol both differ, so the states read in grey as in colour.
            looks = {}
            for name, located in (("rejected", rejected), ("held", held), ("unknown", unknown)):
                symbol = (await located.locator(".sym").inner_text()).strip()
                colour = await located.locator(".sym").evaluate("e => getComputedStyle(e).color")
                looks[name] = (symbol, colour)
            accepted = page.locator('td.cell[data-state="accepted"] .sym').first
            looks["accepted"] = (
                (await accepted.inner_text()).strip(),
                await accepted.evaluate("e => getComputedStyle(e).color"),
            )
            assert len({s for s, _ in looks.values()}) == 4, looks
            assert len({c for _, c in looks.values()}) == 4, looks
            deadline = await rejected.get_attribute("title")
            assert deadline is not None
            assert f"I-REC deadline {trouble.rejected[1].year + 1}-05-31" in deadline or (
                f"I-REC deadline {trouble.rejected[1].year + 1}-09-30" in deadline
            )

            problems = await page.inner_text("#problems")
            inv, month = trouble.held
            assert f"fusionbridge push --month {month} --inverter {inv} --force" in problems
            assert 'add: frequency = "daily"' in problems
            assert f"fusionbridge push --month {trouble.drifting[1]} --force" in problems
            assert "+12.500 kWh" in problems
            chart = await bars(page, trouble.held[0])
            held_bar = next(b for b in chart if b["month"] == str(trouble.held[1]))
            assert "st-held" in held_bar["cls"]
            await assert_charts_in_proportion(page, served)
            with_js = await page.inner_text("body")
            await page.screenshot(path=artifact("page-troubled.png"), full_page=True)

        async with opened(browser, served.base + "/", javascript=False) as page:
            assert await page.inner_text("body") == with_js
            assert await bars(page, trouble.held[0]) == chart


async def test_opening_the_page_never_calls_upstream(tmp_path: Path) -> None:
    async with (
        served_fleet(tmp_path / LEDGER, troubled=False) as (served, _),
        chromium() as browser,
    ):
        sim = served.pipeline.fusionsolar
        before = (sum(sim.calls.values()), served.pipeline.redex.count())
        builds = served.app.page.builds
        async with opened(browser, served.base + "/") as page:
            for _ in range(5):
                await page.reload()
        assert (sum(sim.calls.values()), served.pipeline.redex.count()) == before
        assert served.app.page.builds - builds <= 1, "the view is built once per ledger change"
