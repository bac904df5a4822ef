"""`fusionbridge healthcheck`: is the local daemon alive? Standard library only, for slim images."""

from __future__ import annotations

import urllib.error
import urllib.request
from pathlib import Path

from fusionbridge.errors import ConfigError
from fusionbridge.settings import HttpSettings, load_settings

TIMEOUT_S = 3.0


def livez_url(http: HttpSettings) -> str:
    """Where the daemon listens; a wildcard bind is reached on loopback."""
    host = "127.0.0.1" if http.host in ("0.0.0.0", "", "::") else http.host  # noqa: S104
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{http.port}/livez"


def healthcheck(config: Path | None) -> int:
    """Exit 0 when /livez answers 200 within three seconds, else 1."""
    try:
        http = load_settings(config).http
    except ConfigError:
        http = HttpSettings()
    try:
        with urllib.request.urlopen(livez_url(http), timeout=TIMEOUT_S) as answer:  # noqa: S310
            return 0 if answer.status == 200 else 1
    except (urllib.error.URLError, OSError, ValueError):
        return 1
