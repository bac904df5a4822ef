"""Give a finished job's working memory back to the system: the daemon then idles for a day.

A sync of 1,000 inverters parses and writes megabytes of short-lived objects. CPython frees them,
but the C allocator keeps the pages for reuse, so the idle daemon would stay as large as its
busiest moment. `malloc_trim` (glibc) hands the free pages back; elsewhere this only collects.
"""

from __future__ import annotations

import ctypes
import gc
from collections.abc import Callable
from functools import cache


@cache
def _malloc_trim() -> Callable[[int], int] | None:
    try:
        libc = ctypes.CDLL(None)  # the symbols already loaded into this process, libc among them
    except OSError:
        return None
    trim: Callable[[int], int] | None = getattr(libc, "malloc_trim", None)
    return trim


def release_memory() -> None:
    """Collect cycles, then return free heap pages to the operating system where libc can."""
    gc.collect()
    trim = _malloc_trim()
    if trim is not None:
        trim(0)
