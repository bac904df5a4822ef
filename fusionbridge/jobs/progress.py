"""Progress of long work: a live line on a terminal, one log event per step everywhere else."""

from __future__ import annotations

import sys
from typing import TextIO

from fusionbridge.logs import get_logger

log = get_logger(__name__)


class Progress:
    """Counts steps of one unit of work and shows them the way the output medium deserves."""

    def __init__(self, event: str, total: int, stream: TextIO | None = None) -> None:
        self._event = event
        self.total = total
        self.done = 0
        self._stream = stream if stream is not None else sys.stderr
        self._live = self._stream.isatty()

    def step(self, what: str) -> None:
        """One step finished; `what` says which (e.g. `getDevKpiMonth 2025 type 1 batch 2`)."""
        self.done += 1
        if self._live:
            width = 30
            filled = width * self.done // max(self.total, 1)
            bar = "█" * filled + "·" * (width - filled)
            self._stream.write(f"\r  {bar} {self.done}/{self.total} {what[:60]:<60}")
            self._stream.flush()
        else:
            log.info(self._event, step=self.done, of=self.total, what=what)

    def close(self) -> None:
        """Erase the live line: the work's summary says what it did, the bar has served."""
        if self._live and self.done:
            self._stream.write("\r\x1b[K")
            self._stream.flush()
