"""`notify --test`: one test message to every configured URL, to prove the configuration."""

from __future__ import annotations

import argparse
import socket
import sys

from fusionbridge import __version__
from fusionbridge.notify.delivery import send
from fusionbridge.notify.dispatch import url_tag
from fusionbridge.settings import Settings


async def notify_test(settings: Settings, args: argparse.Namespace) -> int:
    """Exit 0 when every URL took the message; one line per URL, never the URL itself."""
    del args
    urls = [u.get_secret_value() for u in settings.notify.urls]
    if not urls:
        print("fusionbridge: error: no notify.urls configured", file=sys.stderr)
        return 1
    failures = 0
    for index, url in enumerate(urls):
        error = await send(
            [url],
            "fusionbridge: test message",
            f"fusionbridge {__version__} on {socket.gethostname()} can reach you here.",
            settings.notify.timeout_s,
        )
        where = f"notify.urls[{index}] ({url_tag(url)})"
        if error is None:
            print(f"ok    {where}: test message delivered")
        else:
            failures += 1
            print(f"FAIL  {where}: {error}")
    return 1 if failures else 0
