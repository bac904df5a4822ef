"""Hard checks a month must pass before it may become a certificate (SPEC §10 `held`).

Pure: a finite value, not negative, and no more than the source's installed capacity could
produce at full power for every hour of the period in the plant's zone. Soft findings (missing
days, month vs sum of days) live in `core.readings` and stay advisory.
"""

from __future__ import annotations

from decimal import Decimal
from zoneinfo import ZoneInfo

from fusionbridge.core.models import Month
from fusionbridge.core.readings import hours_in


def hard_check(kwh: Decimal, capacity_kwp: Decimal | None, hours: Decimal) -> str | None:
    """Why `kwh` over `hours` cannot be real, or None when it passes (no capacity: no ceiling)."""
    if not kwh.is_finite():
        return f"value {kwh} is not a finite number"
    if kwh < 0:
        return f"negative value {kwh} kWh"
    if capacity_kwp is not None and capacity_kwp.is_finite() and capacity_kwp > 0:
        ceiling = capacity_kwp * hours
        if kwh > ceiling:
            return (
                f"{kwh} kWh is above what {capacity_kwp.normalize():f} kWp can produce in "
                f"{hours.normalize():f} h ({ceiling.normalize():f} kWh)"
            )
    return None


def month_check(
    kwh: Decimal, capacity_kwp: Decimal | None, month: Month, zone: ZoneInfo
) -> str | None:
    """`hard_check` over the hours of `month` in `zone` (DST months have 743 or 745)."""
    return hard_check(
        kwh, capacity_kwp, hours_in(month.first_day(), month.next().first_day(), zone)
    )
