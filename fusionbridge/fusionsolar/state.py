"""What FusionSolar pacing and the login session must remember across restarts, and where.

The client reads this state at start and writes it after every request it sends, so a restarted
process neither fires a call the previous one made seconds ago nor logs in while its token lives.
The ledger (`fusionbridge.store`) implements `PacingStore` in SQLite; `MemoryPacingStore` is the
same contract in memory, for tests that do not restart.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Protocol


@dataclass(frozen=True, slots=True)
class EndpointState:
    """Pacing of one endpoint: its last request, today's count, and any block imposed upstream."""

    last_call: datetime | None = None
    day: date | None = None
    calls_on_day: int = 0
    blocked_until: datetime | None = None


@dataclass(frozen=True, slots=True)
class SessionState:
    """The login session: current token and when it was obtained, recent logins, refused logins.

    `login_attempts` holds the send times of recent login requests (successful or not) so the
    5-per-10-minutes quota holds across processes. `refused_fingerprint` is a hash of the
    credentials Huawei last refused and `refused_at` when; the same credentials are not tried
    again until the lockout period has passed.
    """

    token: str | None = None
    logged_in_at: datetime | None = None
    login_attempts: tuple[datetime, ...] = ()
    refused_fingerprint: str | None = None
    refused_at: datetime | None = None


class PacingStore(Protocol):
    """Durable home of FusionSolar pacing and session state."""

    async def load_endpoints(self) -> dict[str, EndpointState]:
        """Every endpoint's state, keyed by endpoint name (e.g. `getDevKpiMonth`)."""
        ...

    async def save_endpoint(self, endpoint: str, state: EndpointState) -> None:
        """Replace one endpoint's state, durably, before the caller moves on."""
        ...

    async def load_session(self) -> SessionState:
        """The session state (empty when never saved)."""
        ...

    async def save_session(self, state: SessionState) -> None:
        """Replace the session state, durably."""
        ...


@dataclass
class MemoryPacingStore:
    """PacingStore kept in memory: one process, no restart."""

    endpoints: dict[str, EndpointState] = field(default_factory=dict)
    session: SessionState = field(default_factory=SessionState)

    async def load_endpoints(self) -> dict[str, EndpointState]:
        return dict(self.endpoints)

    async def save_endpoint(self, endpoint: str, state: EndpointState) -> None:
        self.endpoints[endpoint] = state

    async def load_session(self) -> SessionState:
        return self.session

    async def save_session(self, state: SessionState) -> None:
        self.session = state
