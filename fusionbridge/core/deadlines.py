"""I-REC issuing deadlines: how long a month's certificates can still be issued (SPEC §15)."""

from __future__ import annotations

from datetime import date

from fusionbridge.core.models import Month

FIRST_HALF_DEADLINE = (5, 31)
"""Production of January-June of year X must be issued by 31 May X+1 ..."""
SECOND_HALF_DEADLINE = (9, 30)
"""... and July-December by 30 September X+1 (I-REC Standard, rolling residual-mix deadline)."""


def irec_deadline(month: Month) -> date:
    """The last day certificates for `month`'s production can be issued."""
    month_of_year, day = FIRST_HALF_DEADLINE if month.month <= 6 else SECOND_HALF_DEADLINE
    return date(month.year + 1, month_of_year, day)


def days_left(month: Month, today: date) -> int:
    """Days from `today` to the month's deadline (negative once it has passed)."""
    return (irec_deadline(month) - today).days
