"""How each submission state looks: a colour class, a symbol and words, so it reads in grey too."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class StateLook:
    css: str
    symbol: str
    words: str


STATE_LOOKS: dict[str, StateLook] = {
    "accepted": StateLook("st-accepted", "✓", "accepted by REDEX"),
    "sent": StateLook("st-sent", "↑", "sent, REDEX still processing"),
    "due": StateLook("st-due", "●", "due: the next push sends it"),
    "sending": StateLook("st-due", "●", "due: the next push sends it"),
    "fetched": StateLook("st-fetched", "○", "fetched, not due yet"),
    "missing": StateLook("st-missing", "\u2013", "no value yet"),
    "held": StateLook("st-held", "‖", "held: implausible value, not sent"),
    "unconfirmed": StateLook("st-unconfirmed", "?", "unconfirmed: may have reached REDEX"),
    "rejected": StateLook("st-rejected", "✗", "rejected by REDEX"),
    "failed": StateLook("st-failed", "!", "failed at REDEX"),
}
UNKNOWN_LOOK = StateLook("st-unknown", "◇", "a state this version does not know")
PROBLEM_STATES = frozenset({"rejected", "failed", "held", "unconfirmed"})


def look(state: str) -> StateLook:
    """The look of `state`; a state added by a newer version still gets a readable look."""
    found = STATE_LOOKS.get(state)
    if found is not None:
        return found
    return StateLook(UNKNOWN_LOOK.css, UNKNOWN_LOOK.symbol, f"{state} ({UNKNOWN_LOOK.words})")


def legend() -> list[tuple[str, StateLook]]:
    """Each state the page can show once, in the order an operator reads them."""
    shown = [s for s in STATE_LOOKS if s != "sending"]
    return [(state, STATE_LOOKS[state]) for state in shown]
