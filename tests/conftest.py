"""Shared fixtures: a clean environment so no developer's FUSIONBRIDGE_* leaks into a test."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for key in list(os.environ):
        if key.startswith("FUSIONBRIDGE_"):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)
