"""The HTTP endpoints in healthy and failing states, through a real server on loopback."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import aiohttp

from fusionbridge.daemon.metrics import Metrics
from fusionbridge.daemon.web import build_app
from fusionbridge.serving import start_server


@dataclass
class FakeView:
    live: bool = True
    failing: list[str] = field(default_factory=list)
    refreshed: int = 0

    def alive(self) -> bool:
        return self.live

    async def readiness(self) -> list[str]:
        return list(self.failing)

    async def status(self, pairs: Iterable[tuple[str, str]]) -> list[bytes]:
        return [b'{"version": "test", ', b'"inverters": []}']

    async def refresh_metrics(self) -> None:
        self.refreshed += 1


async def test_endpoints_healthy_then_failing() -> None:
    view = FakeView()
    metrics = Metrics()
    metrics.record_request("fusionsolar", "getDevKpiMonth", "ok")
    metrics.record_request("redex", "monthly-data", "rate_limited")
    runner, port = await start_server(build_app(view, metrics), "127.0.0.1", 0)
    base = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{base}/livez") as answer:
                assert (answer.status, await answer.json()) == (200, {"status": "ok"})
            async with http.get(f"{base}/readyz") as answer:
                assert answer.status == 200
            async with http.get(f"{base}/status") as answer:
                assert (await answer.json())["version"] == "test"
            async with http.get(f"{base}/metrics") as answer:
                text = await answer.text()
                assert answer.status == 200
                assert answer.headers["Content-Type"].startswith("text/plain")
            assert (
                'fusionbridge_upstream_requests_total{account="default",api="fusionsolar",endpoint="getDevKpiMonth",outcome="ok"} 1.0'
                in text
            )
            assert 'fusionbridge_rate_limit_waits_total{account="default",api="redex"} 1.0' in text
            assert "fusionbridge_build_info{" in text
            assert view.refreshed == 1

            view.live = False
            view.failing = ["last sync older than 2 days", "credentials refused by fusionsolar"]
            async with http.get(f"{base}/livez") as answer:
                assert answer.status == 503
            async with http.get(f"{base}/readyz") as answer:
                body = await answer.json()
                assert answer.status == 503
                assert body["failing"] == view.failing
    finally:
        await runner.cleanup()
