"""The page, built once per ledger change (and at most once a minute otherwise), then served as is.

A build reads the ledger and renders off the event loop's thread; a request waits for it only
briefly (or when nothing was built yet), else it gets the previous build while the new one
finishes, so an answer stays fast at a thousand inverters and /livez is never held up.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from fusionbridge.clock import Clock
from fusionbridge.logs import get_logger
from fusionbridge.page.facts import PageFacts
from fusionbridge.page.source import read_page_facts
from fusionbridge.page.view import PageView, build_view
from fusionbridge.settings import Settings
from fusionbridge.store import Ledger

log = get_logger(__name__)

Readiness = Callable[[], Awaitable[list[str]]]
NextRuns = Callable[[], Mapping[str, datetime | None]]
FRESH_WAIT_S = 0.1
"""How long a request waits for a build in progress before it takes the previous one."""


@dataclass(frozen=True, slots=True)
class PageAnswer:
    """The page's bytes, plain and gzip-compressed once per build (not per request)."""

    plain: bytes
    gzipped: bytes


@dataclass(frozen=True, slots=True)
class _Built:
    key: tuple[object, ...]
    view: PageView
    answer: PageAnswer

    @property
    def html(self) -> str:
        return self.answer.plain.decode()


def compose(facts: PageFacts) -> tuple[PageView, PageAnswer]:
    """The view model and its encoded HTML: pure, so it can run in a worker thread."""
    from fusionbridge.page.render import render_page  # Jinja2 loads with the first visitor

    view = build_view(facts)
    plain = render_page(view).encode()
    return view, PageAnswer(plain, gzip.compress(plain, compresslevel=5))


class PageCache:
    """Answers `GET /` from the last build; starts a new one when the ledger or the minute changed."""

    def __init__(
        self,
        settings: Settings,
        ledger: Ledger,
        clock: Clock,
        *,
        version: str,
        readiness: Readiness,
        next_runs: NextRuns,
    ) -> None:
        self._settings = settings
        self._ledger = ledger
        self._clock = clock
        self._version = version
        self._readiness = readiness
        self._next_runs = next_runs
        self._built: _Built | None = None
        self._building: asyncio.Task[_Built] | None = None
        self._building_key: tuple[object, ...] | None = None
        self.builds = 0

    async def view(self) -> PageView:
        return (await self._current()).view

    async def html(self) -> str:
        return (await self._current()).html

    async def answer(self) -> PageAnswer:
        return (await self._current()).answer

    async def close(self) -> None:
        """Cancel a build in flight (the daemon is stopping)."""
        if self._building is not None and not self._building.done():
            self._building.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._building

    async def _inputs(
        self,
    ) -> tuple[tuple[object, ...], datetime, Sequence[str], dict[str, datetime | None]]:
        """What a build depends on, and the key that says whether the last build still holds."""
        now = self._clock.now()
        failing: Sequence[str] = await self._readiness()
        next_runs = dict(self._next_runs())
        key = (
            await self._ledger.change_marker(),
            now.replace(second=0, microsecond=0),
            tuple(failing),
            tuple(sorted(next_runs.items())),
        )
        return key, now, failing, next_runs

    def _start(
        self,
        key: tuple[object, ...],
        now: datetime,
        failing: Sequence[str],
        next_runs: Mapping[str, datetime | None],
    ) -> asyncio.Task[_Built]:
        task = asyncio.create_task(
            self._build(key, now, failing, next_runs), name="fusionbridge-page-build"
        )
        self._building, self._building_key = task, key
        return task

    async def _current(self) -> _Built:
        if self._built is not None and self._building is not None and not self._building.done():
            return self._built  # a newer build is on its way; do not queue behind its reads
        key, now, failing, next_runs = await self._inputs()
        built = self._built
        if built is not None and built.key == key:
            return built
        task = self._building
        if task is None or task.done():
            task = self._start(key, now, failing, next_runs)
        elif built is not None and self._building_key != key:
            return built  # one build at a time; a later request starts the newer one
        if built is None:
            return await asyncio.shield(task)
        with contextlib.suppress(TimeoutError):
            return await asyncio.wait_for(asyncio.shield(task), FRESH_WAIT_S)
        return built

    async def _build(
        self,
        key: tuple[object, ...],
        now: datetime,
        failing: Sequence[str],
        next_runs: Mapping[str, datetime | None],
    ) -> _Built:
        facts = await read_page_facts(
            self._settings,
            self._ledger,
            now,
            version=self._version,
            failing=failing,
            next_runs=next_runs,
        )
        view, answer = await asyncio.to_thread(compose, facts)
        self._built = _Built(key, view, answer)
        self.builds += 1
        log.debug("page.built", inverters=len(view.rows), bytes=len(answer.plain))
        return self._built
