"""One coroutine per CLI command; each composes settings, ledger and clients for one job."""

from __future__ import annotations
