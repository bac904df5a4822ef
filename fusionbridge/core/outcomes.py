"""What became of one item sent to REDEX: the one outcome type the wire produces and the ledger records."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Sent:
    """REDEX took the item (201) under this ProcessId; acceptance waits for its status."""

    process_id: int


@dataclass(frozen=True, slots=True)
class Rejected:
    """REDEX named the item as invalid (422); re-sending the same will not help."""

    message: str


@dataclass(frozen=True, slots=True)
class Failed:
    """The request was refused (400), or answered in a way that cannot be used (201 without
    a ProcessId); re-sent only when its value changes or with `push --force`."""

    message: str


@dataclass(frozen=True, slots=True)
class Unconfirmed:
    """The request may have reached REDEX (timeout, connection broken after sending, 500, or a
    crash while it was out): not retried in this run, re-sent once by the next."""

    message: str


@dataclass(frozen=True, slots=True)
class Pending:
    """The request provably did not take effect (refused connection, 429, 502/503/504 after
    retries): the month stays due and the next run sends it."""

    message: str


Outcome = Sent | Rejected | Failed | Unconfirmed | Pending


OUTCOME_NAMES: dict[type, str] = {
    Sent: "sent",
    Rejected: "rejected",
    Failed: "failed",
    Unconfirmed: "unconfirmed",
    Pending: "pending",
}
"""How each outcome is named in logs and counts."""
