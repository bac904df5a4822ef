"""The seam between the client and how it proves itself: account login or OAuth Connect.

The client asks for headers before a call and, when Huawei refused them (failCode 305 or HTTP
401), asks once more naming the refused ones; which mode answers is decided here only.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Protocol

import aiohttp

from fusionbridge.clock import Clock
from fusionbridge.fusionsolar.oauth import OAuthSession
from fusionbridge.fusionsolar.oauth_state import OAuthStore
from fusionbridge.fusionsolar.session import LoginSession, Send
from fusionbridge.fusionsolar.state import PacingStore
from fusionbridge.retry import RetryPolicy
from fusionbridge.settings import FusionSolarSettings


class Credentials(Protocol):
    """Where a data call's credential headers come from."""

    async def headers(self, stale: Mapping[str, str] | None = None) -> Mapping[str, str]:
        """Live headers; if `stale` (just refused upstream) is given, renewed ones."""
        ...


def credentials_for(
    settings: FusionSolarSettings,
    store: PacingStore,
    clock: Clock,
    *,
    oauth_store: OAuthStore | None,
    http: aiohttp.ClientSession,
    send: Send,
    notify: Callable[[str, str], None],
    retry: RetryPolicy,
) -> Credentials:
    """Account login (username + system code) or OAuth bearer tokens, as `auth` says."""
    if settings.auth == "oauth":
        if oauth_store is None:
            raise TypeError("auth = 'oauth' needs a store that keeps OAuth tokens (the ledger)")
        return OAuthSession(
            oauth_store, clock, settings=settings, http=http, notify=notify, retry=retry
        )
    return LoginSession(
        store,
        clock,
        username=settings.username,
        system_code=settings.system_code,
        send=send,
        notify=notify,
        retry=retry,
    )
