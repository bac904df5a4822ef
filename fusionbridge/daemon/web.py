"""The daemon's HTTP face: /livez, /readyz, /status, /metrics (SPEC §8). No secrets, no access log."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from aiohttp import web

from fusionbridge.daemon.metrics import Metrics

PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
PAGE_HEADERS = {
    "Cache-Control": "no-store",
    # The page loads nothing: no script, no font, no image from anywhere (SPEC §13).
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


class DaemonView(Protocol):
    """What the endpoints may ask of the daemon; every answer is already redacted."""

    def alive(self) -> bool:
        """The loop and the scheduler run and we are not shutting down."""
        ...

    async def readiness(self) -> list[str]:
        """The checks that fail now (empty when ready)."""
        ...

    async def status(self) -> dict[str, Any]:
        """The /status document."""
        ...

    async def refresh_metrics(self) -> None:
        """Bring gauges that mirror the ledger up to date before a scrape."""
        ...


class PageBytes(Protocol):
    """The operator's page, encoded once: plain and gzip."""

    @property
    def plain(self) -> bytes: ...

    @property
    def gzipped(self) -> bytes: ...


def build_app(
    view: DaemonView, metrics: Metrics, *, page: Callable[[], Awaitable[PageBytes]] | None = None
) -> web.Application:
    """The aiohttp application serving the four endpoints, and the operator's page at `/`."""

    async def livez(_request: web.Request) -> web.Response:
        if view.alive():
            return web.json_response({"status": "ok"})
        return web.json_response({"status": "unavailable"}, status=503)

    async def readyz(_request: web.Request) -> web.Response:
        failing = await view.readiness()
        if not failing:
            return web.json_response({"status": "ready"})
        return web.json_response({"status": "not ready", "failing": failing}, status=503)

    async def status(_request: web.Request) -> web.Response:
        return web.json_response(await view.status())

    async def prometheus(_request: web.Request) -> web.Response:
        await view.refresh_metrics()
        return web.Response(
            body=metrics.render(), headers={"Content-Type": PROMETHEUS_CONTENT_TYPE}
        )

    app = web.Application()
    if page is not None:
        html = page

        async def front(request: web.Request) -> web.Response:
            answer = await html()
            headers = {**PAGE_HEADERS, "Vary": "Accept-Encoding"}
            if "gzip" in request.headers.get("Accept-Encoding", ""):
                headers["Content-Encoding"] = "gzip"
                body = answer.gzipped
            else:
                body = answer.plain
            return web.Response(
                body=body, content_type="text/html", charset="utf-8", headers=headers
            )

        app.router.add_get("/", front)
    app.router.add_get("/livez", livez)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/status", status)
    app.router.add_get("/metrics", prometheus)
    return app


async def start_server(app: web.Application, host: str, port: int) -> tuple[web.AppRunner, int]:
    """Serve `app` without an access log (probes would flood it); returns the runner and bound port."""
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    addresses = runner.addresses
    bound = int(addresses[0][1]) if addresses else port
    return runner, bound


async def serve_on_loopback(app: web.Application) -> tuple[web.AppRunner, str]:
    """Serve `app` on an ephemeral 127.0.0.1 port (simulators in benches and tests); its base URL."""
    runner, port = await start_server(app, "127.0.0.1", 0)
    return runner, f"http://127.0.0.1:{port}"
