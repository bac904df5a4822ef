"""`python -m fusionbridge --config FILE ...` as a real process, run to its end."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


async def run_cli(config: Path, *argv: str) -> tuple[int, str, str]:
    """Exit status, stdout and stderr of one command, run beside its config file."""
    child = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "fusionbridge", "--config", str(config), *argv),
        cwd=config.parent,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await child.communicate()
    assert child.returncode is not None
    return child.returncode, out.decode(), err.decode()
