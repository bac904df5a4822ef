"""Send one message through Apprise to every configured URL, bounded in time, never raising."""

from __future__ import annotations

import asyncio


async def send(urls: list[str], title: str, body: str, timeout_s: float) -> str | None:
    """Deliver to every URL; None when all took it, else why not (no URL: they hold secrets)."""
    import apprise

    notifier = apprise.Apprise()
    for index, url in enumerate(urls):
        if not notifier.add(url):
            return f"notify.urls[{index}] is not a URL Apprise understands"
    try:
        delivered = await asyncio.wait_for(
            asyncio.to_thread(notifier.notify, body=body, title=title), timeout_s
        )
    except TimeoutError:
        return f"no answer within {timeout_s:g} s"
    except Exception as exc:  # Apprise plugins raise what they like; none may stop a job
        return f"delivery failed: {type(exc).__name__}"
    return None if delivered else "at least one notification service did not take the message"
