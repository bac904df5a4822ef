"""systemd's notify protocol (READY, STATUS, STOPPING, WATCHDOG) without a dependency.

A datagram to the socket named by $NOTIFY_SOCKET; everything is a no-op when it is unset, so the
same code runs under Docker, a terminal or systemd.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping


class Notifier:
    """Sends notify messages to systemd when it is listening; silently does nothing otherwise."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        address = env.get("NOTIFY_SOCKET", "")
        if address.startswith("@"):  # abstract namespace socket
            address = "\0" + address[1:]
        self._address = address
        usec = env.get("WATCHDOG_USEC", "")
        pid = env.get("WATCHDOG_PID", "")
        owned = not pid or pid == str(os.getpid())
        self.watchdog_interval_s: float | None = (
            int(usec) / 1_000_000 / 2 if usec.isdigit() and int(usec) > 0 and owned else None
        )

    @property
    def enabled(self) -> bool:
        return bool(self._address)

    def send(self, **fields: str) -> bool:
        """Send `KEY=value` lines; True when a datagram went out."""
        if not self._address:
            return False
        message = "\n".join(f"{key.upper()}={value}" for key, value in fields.items()).encode()
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
                sock.connect(self._address)
                sock.sendall(message)
        except OSError:
            return False
        return True

    def ready(self, status: str) -> bool:
        return self.send(ready="1", status=status)

    def status(self, status: str) -> bool:
        return self.send(status=status)

    def stopping(self) -> bool:
        return self.send(stopping="1", status="stopping")

    def watchdog(self) -> bool:
        return self.send(watchdog="1")
