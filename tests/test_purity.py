"""The functional core stays pure: importing it pulls in no I/O, scheduling or logging library."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys

import pytest

PURE_MODULES = [
    "fusionbridge.models",
    "fusionbridge.mapping",
    "fusionbridge.planning",
    "fusionbridge.push_plan",
    "fusionbridge.aggregate",
    "fusionbridge.fusionsolar.wire",
    "fusionbridge.redex.wire",
    "fusionbridge.deadlines",
    "fusionbridge.notify.events",
    "fusionbridge.evidence.raw",
    "fusionbridge.evidence.bundle",
]
FORBIDDEN = ["aiohttp", "aiosqlite", "sqlite3", "apscheduler", "structlog"]

_PROBE = """
import importlib, json, sys
importlib.import_module(sys.argv[1])
forbidden = set(json.loads(sys.argv[2]))
print(json.dumps(sorted({name.split(".")[0] for name in sys.modules} & forbidden)))
"""


@pytest.mark.parametrize("module", PURE_MODULES)
def test_pure_module_imports_no_io_library(module: str) -> None:
    if importlib.util.find_spec(module) is None:
        pytest.skip(f"{module} does not exist yet")
    probe = [sys.executable, "-c", _PROBE, module, json.dumps(FORBIDDEN)]
    done = subprocess.run(probe, capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == []


def test_probe_detects_a_forbidden_import() -> None:
    probe = [sys.executable, "-c", _PROBE, "sqlite3", json.dumps(FORBIDDEN)]
    done = subprocess.run(probe, capture_output=True, text=True, timeout=30, check=True)
    assert json.loads(done.stdout) == ["sqlite3"]
