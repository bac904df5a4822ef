"""The page, built once per ledger change (and at most once a minute otherwise), then served as is."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from fusionbridge.clock import Clock
from fusionbridge.page.render import render_page
from fusionbridge.page.source import read_page_facts
from fusionbridge.page.view import PageView, build_view
from fusionbridge.settings import Settings
from fusionbridge.store import Ledger

Readiness = Callable[[], Awaitable[list[str]]]
NextRuns = Callable[[], Mapping[str, datetime | None]]


@dataclass(frozen=True, slots=True)
class _Built:
    key: tuple[object, ...]
    view: PageView
    html: str


class PageCache:
    """Answers `GET /` from the last build while the ledger, readiness and minute are unchanged."""

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
        self.builds = 0

    async def view(self) -> PageView:
        return (await self._current()).view

    async def html(self) -> str:
        return (await self._current()).html

    async def _current(self) -> _Built:
        now = self._clock.now()
        failing: Sequence[str] = await self._readiness()
        next_runs = dict(self._next_runs())
        key = (
            await self._ledger.change_marker(),
            now.replace(second=0, microsecond=0),
            tuple(failing),
            tuple(sorted(next_runs.items())),
        )
        if self._built is not None and self._built.key == key:
            return self._built
        facts = await read_page_facts(
            self._settings,
            self._ledger,
            now,
            version=self._version,
            failing=failing,
            next_runs=next_runs,
        )
        view = build_view(facts)
        self._built = _Built(key, view, render_page(view))
        self.builds += 1
        return self._built
