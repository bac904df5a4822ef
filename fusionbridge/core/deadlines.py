"""I-REC issuance deadlines, pure: the rolling residual-mix rule and the operator's overrides.

Rule (I-REC Standard Board, rolling RMD): production of January to June of year X must be issued by
31 May X+1, of July to December by 30 September X+1. The Board has moved deadlines before, so
`[irec] deadlines` overrides it: keys `YYYY-H1` / `YYYY-H2` (a half-year) or `YYYY-MM` (one
month, which wins over its half), values the last day of issuance.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date

from fusionbridge.core.models import Month

WARN_DAYS = 30
"""A month not accepted this close to its deadline is worth a message (SPEC §15)."""


def half_key(month: Month) -> str:
    """The override key of the half-year a month belongs to: `2026-H1` or `2026-H2`."""
    return f"{month.year:04d}-H{1 if month.month <= 6 else 2}"


def rolling_deadline(month: Month) -> date:
    """The I-REC rolling rule alone."""
    if month.month <= 6:
        return date(month.year + 1, 5, 31)
    return date(month.year + 1, 9, 30)


def issue_deadline(month: Month, overrides: Mapping[str, date] | None = None) -> date:
    """The last day `month`'s production may be issued: a month override, its half's, or the rule."""
    table = overrides or {}
    return table.get(str(month)) or table.get(half_key(month)) or rolling_deadline(month)


def days_left(deadline: date, today: date) -> int:
    """Whole days from `today` to the deadline: 0 on the day itself, negative once it passed."""
    return deadline.toordinal() - today.toordinal()
