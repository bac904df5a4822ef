"""The FusionSolar login session: one token per account, reused, and logins kept far from trouble.

Huawei allows 5 logins per 10 minutes and locks an account for 30 minutes after 5 wrong
passwords; each login also kills the previous token. So a token is reused for its life, also by
the next process (it lives in the store), and refused credentials are not tried again for 30
minutes, by this process or any restart of it.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from pydantic import SecretStr

from fusionbridge.clock import Clock
from fusionbridge.errors import (
    ConnectFailed,
    FusionSolarLoginError,
    FusionSolarRateLimited,
    LoginQuotaError,
    TransientError,
    UpstreamError,
)
from fusionbridge.fusionsolar import wire
from fusionbridge.fusionsolar.state import PacingStore, SessionState
from fusionbridge.logs import get_logger
from fusionbridge.retry import RetryPolicy

log = get_logger(__name__)

TOKEN_REUSE = timedelta(minutes=25)
"""Huawei's token lives 30 minutes; stop using it a little early."""
XSRF_HEADER = "XSRF-TOKEN"
LOGIN_WINDOW = timedelta(minutes=10)
MAX_LOGINS_PER_WINDOW = 4
"""Huawei allows 5 logins per 10 minutes; one is left for a human checking the account."""
REFUSAL_QUARANTINE = timedelta(minutes=30)
"""How long refused credentials are not tried again (Huawei's lockout lasts 30 minutes)."""


@dataclass(frozen=True, slots=True)
class Answer:
    """What came back for one request: status, body text, and any session token it carried."""

    status: int
    text: str
    token: str | None = None
    raw: bytes = field(default=b"", repr=False)


BeforeSend = Callable[[], Awaitable[None]]
Send = Callable[
    [str, Mapping[str, object], Mapping[str, str], BeforeSend | None], Awaitable[Answer]
]


def credentials_fingerprint(username: str, system_code: str) -> str:
    """A hash naming a credential pair, so a refusal is remembered without storing the secret."""
    return hashlib.sha256(f"{username}\0{system_code}".encode()).hexdigest()


class LoginSession:
    """Hands out a live token, logging in only when needed and only when it is safe."""

    def __init__(
        self,
        store: PacingStore,
        clock: Clock,
        *,
        username: str,
        system_code: SecretStr,
        send: Send,
        notify: Callable[[str, str], None],
        retry: RetryPolicy,
    ) -> None:
        self._store = store
        self._clock = clock
        self._username = username
        self._system_code = system_code
        self._send = send
        self._notify = notify
        self._retry = retry
        self._lock = asyncio.Lock()
        self._sent_at: datetime | None = None

    async def headers(self, stale: Mapping[str, str] | None = None) -> dict[str, str]:
        """The client's credential seam: the session token as the XSRF-TOKEN header."""
        return {XSRF_HEADER: await self.token((stale or {}).get(XSRF_HEADER))}

    async def token(self, stale: str | None = None) -> str:
        """The stored token while young and not `stale` (refused upstream), else a new login."""
        async with self._lock:
            session = await self._store.load_session()
            if (
                session.token
                and session.token != stale
                and session.logged_in_at is not None
                and timedelta(0) <= self._clock.now() - session.logged_in_at < TOKEN_REUSE
            ):
                return session.token
            async for attempt in self._retry.transient():
                with attempt:
                    return await self._login()
            raise AssertionError("unreachable")  # pragma: no cover

    async def _login(self) -> str:
        fingerprint = credentials_fingerprint(self._username, self._system_code.get_secret_value())
        session = await self._store.load_session()
        now = self._clock.now()
        self._refuse_if_refused_before(session, fingerprint, now)
        recent = _recent(session.login_attempts, now)
        if len(recent) >= MAX_LOGINS_PER_WINDOW:
            wait = (min(recent) + LOGIN_WINDOW - now).total_seconds()
            log.error("fusionsolar.login_quota", recent_logins=len(recent), retry_after_s=wait)
            raise LoginQuotaError(
                f"not logging in to FusionSolar: {len(recent)} logins in the last 10 minutes "
                f"(Huawei allows 5); the next one is possible in {wait:.0f} s",
                wait,
            )
        body = wire.login_body(self._username, self._system_code.get_secret_value())
        try:
            answer = await self._send("login", body, {}, self._count_attempt)
        except ConnectFailed:
            await self._uncount_attempt()  # Huawei never saw it: it spends no quota
            raise
        try:
            wire.check_login(answer.status, answer.text, self._username)
        except FusionSolarLoginError as exc:
            self._notify("login", "refused")
            await self._remember_refusal(fingerprint, exc)
            raise
        except FusionSolarRateLimited as exc:
            self._notify("login", "rate_limited")
            log.error("fusionsolar.login_rate_limited", user=self._username)
            raise LoginQuotaError(
                "FusionSolar refused a login: more than 5 logins in 10 minutes on this account",
                LOGIN_WINDOW.total_seconds(),
            ) from exc
        except UpstreamError as exc:
            self._notify("login", "transient" if isinstance(exc, TransientError) else "error")
            log.warning("fusionsolar.login_failed", error=str(exc))
            raise
        if answer.token is None:
            self._notify("login", "error")
            raise UpstreamError(f"FusionSolar login gave no token: {wire.snippet(answer.text)!r}")
        self._notify("login", "ok")
        await self._store.save_session(
            replace(
                await self._store.load_session(),
                token=answer.token,
                logged_in_at=self._clock.now(),
                refused_fingerprint=None,
                refused_at=None,
            )
        )
        log.info("fusionsolar.login", user=self._username)
        return answer.token

    async def _count_attempt(self) -> None:
        """Record the login as sent, at the moment it leaves (after any pacing wait)."""
        session = await self._store.load_session()
        self._sent_at = sent_at = self._clock.now()
        attempts = _recent(session.login_attempts, sent_at)
        await self._store.save_session(replace(session, login_attempts=(*attempts, sent_at)))

    async def _uncount_attempt(self) -> None:
        session = await self._store.load_session()
        attempts = list(session.login_attempts)
        if self._sent_at in attempts:
            attempts.remove(self._sent_at)
            await self._store.save_session(replace(session, login_attempts=tuple(attempts)))

    def _refuse_if_refused_before(
        self, session: SessionState, fingerprint: str, now: datetime
    ) -> None:
        if session.refused_fingerprint != fingerprint or session.refused_at is None:
            return
        until = session.refused_at + REFUSAL_QUARANTINE
        if now < until:
            raise FusionSolarLoginError(
                f"FusionSolar refused user {self._username!r} at {session.refused_at:%H:%M} UTC; "
                f"not trying the same credentials again before {until:%H:%M} UTC "
                "(5 wrong attempts lock the account for 30 minutes)"
            )

    async def _remember_refusal(self, fingerprint: str, exc: FusionSolarLoginError) -> None:
        session = await self._store.load_session()
        await self._store.save_session(
            replace(
                session,
                token=None,
                logged_in_at=None,
                refused_fingerprint=fingerprint,
                refused_at=self._clock.now(),
            )
        )
        log.error("fusionsolar.login_refused", user=self._username, fail_code=exc.fail_code)


def _recent(attempts: tuple[datetime, ...], now: datetime) -> tuple[datetime, ...]:
    """Logins inside the quota window; any stamped in the future (clock set back) count as now."""
    clamped = (min(t, now) for t in attempts)
    return tuple(t for t in clamped if now - t < LOGIN_WINDOW)
