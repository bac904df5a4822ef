"""`fusionbridge demo`: the whole job against the built-in simulators (arrives with the daemon)."""

from __future__ import annotations

import sys


def demo(*, once: bool, port: int) -> int:
    """Placeholder until the daemon lands: say so plainly instead of pretending."""
    del once, port
    print("fusionbridge demo: not built yet (the daemon issue adds it)", file=sys.stderr)
    return 1
