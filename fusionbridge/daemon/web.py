"""The daemon's HTTP face: /livez, /readyz, /status, /metrics (SPEC §8). No secrets, no access log."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Protocol

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
JSON_CONTENT_TYPE = "application/json; charset=utf-8"
CHUNK_BYTES = 64 * 1024
"""Large bodies go out in slices of shared bytes, so a slow reader never holds its own copy."""


class DaemonView(Protocol):
    """What the endpoints may ask of the daemon; every answer is already redacted."""

    def alive(self) -> bool:
        """The loop and the scheduler run and we are not shutting down."""
        ...

    async def readiness(self) -> list[str]:
        """The checks that fail now (empty when ready)."""
        ...

    async def status(self, pairs: Iterable[tuple[str, str]]) -> list[bytes]:
        """The /status document for these query parameters, in parts; ValueError if bad."""
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

    async def status(request: web.Request) -> web.StreamResponse:
        try:
            parts = await view.status(request.query.items())
        except ValueError as exc:
            return web.json_response({"error": str(exc)}, status=400)
        return await send_parts(request, parts)

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


async def send_parts(request: web.Request, parts: Sequence[bytes]) -> web.StreamResponse:
    """A JSON answer made of `parts`, written without joining them into one new bytes object."""
    response = web.StreamResponse(headers={"Content-Type": JSON_CONTENT_TYPE})
    response.content_length = sum(len(part) for part in parts)
    await response.prepare(request)
    for part in parts:
        view = memoryview(part)
        for start in range(0, len(view), CHUNK_BYTES):
            await response.write(view[start : start + CHUNK_BYTES])
    await response.write_eof()
    return response
