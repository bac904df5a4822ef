"""The `fusionbridge` processes of the replica tests: spawned, read, asked over HTTP, stopped.

Each child is a real `python -m fusionbridge` with the rig's secrets in its environment; what it
writes to stderr is kept line by line with its arrival time, so a test can wait for an event
and measure how long something took.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator, Collection, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from tests.replica_harness import REPO, START_S, Account, Rig


@dataclass
class Line:
    """One line a child wrote to stderr, when it arrived (loop time) and its JSON, if any."""

    at: float
    text: str
    record: dict[str, Any]


@dataclass
class Child:
    """A running `fusionbridge` process and everything it wrote to stderr so far."""

    process: asyncio.subprocess.Process
    lines: list[Line] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    reader: asyncio.Task[None] | None = None
    port: int | None = None

    @property
    def holder(self) -> str:
        """How the lease names this process."""
        return f"{socket.gethostname()}:{self.process.pid}"

    @property
    def alive(self) -> bool:
        return self.process.returncode is None

    @property
    def stderr(self) -> str:
        return "".join(line.text for line in self.lines)

    def events(self, name: str, **fields: Any) -> list[Line]:
        return [
            line
            for line in self.lines
            if line.record.get("event") == name
            and all(line.record.get(k) == v for k, v in fields.items())
        ]

    async def wait_event(
        self, name: str, seconds: float, *, after: float = 0.0, **fields: Any
    ) -> Line:
        """The first line of event `name` (with `fields`) that arrived after loop time `after`."""
        try:
            async with asyncio.timeout(seconds):
                while True:
                    found = [line for line in self.events(name, **fields) if line.at > after]
                    if found:
                        return found[0]
                    if self.reader is not None and self.reader.done():
                        raise AssertionError(f"the child ended without {name}: {self.tail()}")
                    self.arrived.clear()
                    await self.arrived.wait()
        except TimeoutError:
            raise AssertionError(
                f"no {name} {fields} within {seconds:g} s: {self.tail()}"
            ) from None

    def tail(self, lines: int = 30) -> str:
        """The child's last events, for a failing assertion's message."""
        return "\n".join(line.text.rstrip()[:300] for line in self.lines[-lines:])

    async def wait_text(self, text: str, seconds: float) -> None:
        async with asyncio.timeout(seconds):
            while text not in self.stderr:
                if self.reader is not None and self.reader.done():
                    raise AssertionError(f"the child ended without {text!r}: {self.stderr}")
                self.arrived.clear()
                await self.arrived.wait()

    async def get(self, path: str) -> tuple[int, str]:
        assert self.port is not None, "not ready"
        async with (
            aiohttp.ClientSession() as http,
            http.get(f"http://127.0.0.1:{self.port}{path}") as answer,
        ):
            return answer.status, await answer.text()

    async def json(self, path: str) -> tuple[int, Any]:
        status, text = await self.get(path)
        return status, json.loads(text)

    async def finish(self, seconds: float = 60.0) -> int:
        """Wait for the child to end on its own; its exit status."""
        async with asyncio.timeout(seconds):
            code = await self.process.wait()
            if self.reader is not None:
                await self.reader
        return code

    async def terminate(self, seconds: float = 30.0) -> int:
        """SIGTERM, as systemd or Docker stop it; the exit status."""
        self.process.send_signal(signal.SIGTERM)
        return await self.finish(seconds)


async def _read(child: Child, stream: asyncio.StreamReader) -> None:
    loop = asyncio.get_running_loop()
    async for raw in stream:
        text = raw.decode(errors="replace")
        try:
            record = json.loads(text) if text.startswith("{") else {}
        except ValueError:
            record = {}
        child.lines.append(Line(loop.time(), text, record))
        child.arrived.set()
    child.arrived.set()


@asynccontextmanager
async def spawned(
    rig: Rig, config: Path, *argv: str, env: Mapping[str, str] | None = None
) -> AsyncIterator[Child]:
    """A `python -m fusionbridge --config CONFIG ARGV` child for the block; killed if still alive."""
    process = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "fusionbridge", "--config", str(config), *argv),
        cwd=config.parent,
        env={**os.environ, **rig.env(), **(env or {}), "PYTHONPATH": str(REPO)},
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    assert process.stderr is not None
    child = Child(process)
    child.reader = asyncio.create_task(_read(child, process.stderr))
    try:
        yield child
    finally:
        if process.returncode is None:
            process.kill()
        with contextlib.suppress(ProcessLookupError):
            await process.wait()
        await child.reader


async def _listening(child: Child) -> Child:
    ready = await child.wait_event("daemon.ready", START_S)
    child.port = int(ready.record["port"])
    return child


@asynccontextmanager
async def replica(rig: Rig, config: Path) -> AsyncIterator[Child]:
    """A `fusionbridge run` replica, yielded once it listens (its port known)."""
    async with spawned(rig, config, "run") as child:
        yield await _listening(child)


@asynccontextmanager
async def replicas(rig: Rig, config: Path, count: int) -> AsyncIterator[list[Child]]:
    """`count` replicas started together, yielded once every one listens."""
    async with AsyncExitStack() as stack:
        children = [
            await stack.enter_async_context(spawned(rig, config, "run")) for _ in range(count)
        ]
        yield list(await asyncio.gather(*(_listening(child) for child in children)))


async def mid_request(rig: Rig, child: Child, account: Account) -> None:
    """Until `child` holds the account's lease and its request waits at FusionSolar."""

    async def holding() -> bool:
        lease = await rig.lease(account.name)
        live = lease is not None and lease.released_at is None and lease.holder == child.holder
        return live and account.fusionsolar.in_flight == 1

    await until(holding, START_S, f"{child.holder} mid-request for {account.name}", 0.1)


async def until(check: Any, seconds: float, what: str, interval: float = 0.05) -> float:
    """Poll `check()` (sync or async) until true; the loop time it became true."""
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout(seconds):
            while True:
                result = check()
                if asyncio.iscoroutine(result):
                    result = await result
                if result:
                    return loop.time()
                await asyncio.sleep(interval)  # polling the simulators; the children run apart
    except TimeoutError:
        raise AssertionError(f"not within {seconds:g} s: {what}") from None


async def jobs_done(child: Child, job: str, accounts: Collection[str] | None = None) -> bool:
    """Whether /status of `child` shows `job` succeeded and not running for every account."""
    status, document = await child.json("/status")
    if status != 200 or "accounts" not in document:
        return False
    return all(
        entry["jobs"][job]["last_success_at"] is not None and not entry["jobs"][job]["running"]
        for name, entry in document["accounts"].items()
        if accounts is None or name in accounts
    )
