"""Serving an aiohttp application on a TCP port: the daemon, the demo, simulators in tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiohttp import web

LOOPBACK = "127.0.0.1"


async def start_server(
    app: web.Application, host: str, port: int, *, shutdown_timeout: float = 60.0
) -> tuple[web.AppRunner, int]:
    """Serve `app` without an access log (probes would flood it); the runner and the bound port."""
    runner = web.AppRunner(
        app, access_log=None, handle_signals=False, shutdown_timeout=shutdown_timeout
    )
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
    except BaseException:
        await runner.cleanup()
        raise
    addresses = runner.addresses
    bound = int(addresses[0][1]) if addresses else port
    return runner, bound


async def serve_on_loopback(
    app: web.Application, *, shutdown_timeout: float = 60.0
) -> tuple[web.AppRunner, str]:
    """Serve `app` on an ephemeral 127.0.0.1 port; the runner and the base URL."""
    runner, port = await start_server(app, LOOPBACK, 0, shutdown_timeout=shutdown_timeout)
    return runner, f"http://{LOOPBACK}:{port}"


@asynccontextmanager
async def served(app: web.Application, host: str = LOOPBACK, port: int = 0) -> AsyncIterator[str]:
    """Serve `app` for the block (an ephemeral loopback port by default); yield the base URL."""
    runner, bound = await start_server(app, host, port)
    try:
        yield f"http://{host}:{bound}"
    finally:
        await runner.cleanup()
