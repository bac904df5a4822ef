"""The functional core stays pure: importing it pulls in no I/O, scheduling or logging library."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import fusionbridge.core

CORE = Path(fusionbridge.core.__file__).parent
CORE_MODULES = [
    "fusionbridge.core",
    *sorted(
        "fusionbridge.core." + path.stem for path in CORE.glob("*.py") if path.stem != "__init__"
    ),
]
WIRE_MODULES = [
    "fusionbridge.fusionsolar.wire",
    "fusionbridge.fusionsolar.oauth_wire",
    "fusionbridge.redex.wire",
    "fusionbridge.redex.daily_wire",
    "fusionbridge.page.view",
    "fusionbridge.page.svg",
    "fusionbridge.page.problems",
    "fusionbridge.notify.events",
    "fusionbridge.evidence.raw",
    "fusionbridge.evidence.bundle",
    "fusionbridge.evidence.day_facts",
    "fusionbridge.evidence.day_files",
]
IO_LIBRARIES = [
    "aiohttp",
    "aiosqlite",
    "sqlite3",
    "psycopg",
    "apscheduler",
    "structlog",
    "prometheus_client",
]
CORE_FORBIDDEN = [*IO_LIBRARIES, "pydantic", "pydantic_settings"]
"""The core takes plain domain values; the wire modules may parse settings but do no I/O."""

_PROBE = """
import importlib, json, sys
importlib.import_module(sys.argv[1])
forbidden = set(json.loads(sys.argv[2]))
print(json.dumps(sorted({name.split(".")[0] for name in sys.modules} & forbidden)))
"""


@pytest.mark.parametrize(
    ("module", "forbidden"),
    [(m, CORE_FORBIDDEN) for m in CORE_MODULES] + [(m, IO_LIBRARIES) for m in WIRE_MODULES],
)
def test_pure_module_imports_no_io_library(module: str, forbidden: list[str]) -> None:
    probe = [sys.executable, "-c", _PROBE, module, json.dumps(forbidden)]
    done = subprocess.run(probe, capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == []


def test_probe_detects_a_forbidden_import() -> None:
    probe = [sys.executable, "-c", _PROBE, "sqlite3", json.dumps(CORE_FORBIDDEN)]
    done = subprocess.run(probe, capture_output=True, text=True, timeout=30, check=True)
    assert json.loads(done.stdout) == ["sqlite3"]


def test_core_package_is_not_empty() -> None:
    assert len(CORE_MODULES) >= 8, CORE_MODULES
