"""The notify protocol against a real datagram socket, as systemd would listen."""

from __future__ import annotations

import socket
from pathlib import Path

from fusionbridge.daemon.systemd import Notifier


def test_messages_reach_the_socket(tmp_path: Path) -> None:
    path = tmp_path / "notify.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as server:
        server.bind(str(path))
        notifier = Notifier({"NOTIFY_SOCKET": str(path), "WATCHDOG_USEC": "20000000"})
        assert notifier.enabled
        assert notifier.watchdog_interval_s == 10.0
        assert notifier.ready("listening on 127.0.0.1:8080")
        assert server.recv(4096) == b"READY=1\nSTATUS=listening on 127.0.0.1:8080"
        assert notifier.watchdog()
        assert server.recv(4096) == b"WATCHDOG=1"
        assert notifier.stopping()
        assert server.recv(4096) == b"STOPPING=1\nSTATUS=stopping"


def test_without_systemd_nothing_is_sent() -> None:
    notifier = Notifier({})
    assert not notifier.enabled
    assert notifier.watchdog_interval_s is None
    assert not notifier.ready("x")


def test_watchdog_for_another_pid_is_ignored() -> None:
    notifier = Notifier(
        {"NOTIFY_SOCKET": "/nonexistent", "WATCHDOG_USEC": "1000000", "WATCHDOG_PID": "1"}
    )
    assert notifier.watchdog_interval_s is None
    assert not notifier.ready("x")  # the socket does not exist: reported, not raised
