"""How domain values become SQLite column text and back: exact, sortable, zone-free."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation

from fusionbridge.core.models import Month
from fusionbridge.errors import LedgerError


def instant_text(value: datetime) -> str:
    """ISO-8601 UTC with fixed microseconds, so text order is time order."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("the ledger stores aware datetimes only")
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def optional_instant_text(value: datetime | None) -> str | None:
    return None if value is None else instant_text(value)


def instant(text: str) -> datetime:
    """Read back what `instant_text` wrote, as an aware UTC datetime."""
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        raise LedgerError(f"ledger holds a zone-less timestamp {text!r}")
    return parsed.astimezone(UTC)


def optional_instant(text: str | None) -> datetime | None:
    return None if text is None else instant(text)


def decimal_text(value: Decimal) -> str:
    """Decimal as its exact text; floats never reach the ledger."""
    if not isinstance(value, Decimal):
        raise TypeError(f"the ledger stores Decimal energy, not {type(value).__name__}")
    if not value.is_finite():
        raise ValueError("the ledger stores finite energy values only")
    return str(value)


def optional_decimal_text(value: Decimal | None) -> str | None:
    return None if value is None else decimal_text(value)


def decimal(text: str) -> Decimal:
    try:
        return Decimal(text)
    except InvalidOperation as exc:
        raise LedgerError(f"ledger holds a non-decimal energy value {text!r}") from exc


def optional_decimal(text: str | None) -> Decimal | None:
    return None if text is None else decimal(text)


def period_text(period: date | Month) -> str:
    """A day as `YYYY-MM-DD`, a month as `YYYY-MM`: distinct by length, both sortable."""
    if isinstance(period, Month):
        return str(period)
    return period.isoformat()


def period(text: str) -> date | Month:
    return Month.parse(text) if len(text) == 7 else date.fromisoformat(text)
