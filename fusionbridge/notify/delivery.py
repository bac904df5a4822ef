"""Send one message through Apprise to every configured URL, bounded in time, never raising."""

from __future__ import annotations

import asyncio

SETTLE_S = 1.0
"""Headroom over Apprise's own connect + read timeouts before we stop waiting for it."""


async def send(urls: list[str], title: str, body: str, timeout_s: float) -> str | None:
    """Deliver to every URL; None when all took it, else why not (no URL: they hold secrets).

    Apprise's own socket timeouts are set to `timeout_s`, so a slow service is given up by
    Apprise itself and reported as failed; we stop waiting a little after that at the latest.
    A late success would otherwise be recorded as a failure and the message sent twice.
    """
    import apprise  # heavy: loaded only when there is something to send

    notifier = apprise.Apprise()
    for index, url in enumerate(urls):
        if not notifier.add(url):
            return f"notify.urls[{index}] is not a URL Apprise understands"
    for service in notifier:
        service.socket_connect_timeout = min(service.socket_connect_timeout, timeout_s)
        service.socket_read_timeout = min(service.socket_read_timeout, timeout_s)
    try:
        delivered = await asyncio.wait_for(
            asyncio.to_thread(notifier.notify, body=body, title=title), 2 * timeout_s + SETTLE_S
        )
    except TimeoutError:
        return f"no answer within {timeout_s:g} s"
    except Exception as exc:  # Apprise plugins raise what they like; none may stop a job
        return f"delivery failed: {type(exc).__name__}"
    return None if delivered else "the service refused the message or did not answer in time"
