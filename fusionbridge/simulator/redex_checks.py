"""The REDEX simulator's payload checks: what makes a monthly-data body malformed (400)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from fusionbridge.core.models import MONTH_KEYS
from fusionbridge.redex.wire import PERIOD_KEY


def malformed(body: Any) -> str | None:
    """The 400 message for a body that is not a well-formed monthly-data array, else None."""
    if not isinstance(body, list) or not body:
        return "The request body must be a non-empty JSON array"
    seen: set[tuple[str, int]] = set()
    for index, item in enumerate(body):
        where = f"[{index}]"
        if not isinstance(item, dict) or set(item) != {"RemoteInvId", "Data"}:
            return f"{where} must have exactly the fields RemoteInvId and Data"
        remote_inv_id, data = item["RemoteInvId"], item["Data"]
        if not isinstance(remote_inv_id, str) or not remote_inv_id:
            return f"{where}.RemoteInvId must be a non-empty string"
        if not isinstance(data, dict) or set(data) != {"Year", PERIOD_KEY}:
            return f"{where}.Data must have exactly the fields Year and {PERIOD_KEY}"
        year, months = data["Year"], data[PERIOD_KEY]
        if type(year) is not int or not 2000 <= year <= 2100:
            return f"{where}.Data.Year must be a year number"
        if not isinstance(months, dict):
            return f"{where}.Data.{PERIOD_KEY} must be an object"
        for key in sorted(set(months) ^ set(MONTH_KEYS)):
            state = "unknown" if key in months else "missing"
            return f"{where}.Data.{PERIOD_KEY}: {state} month key {key!r}"
        for key, value in months.items():
            problem = bad_kwh(value)
            if problem is not None:
                return f"{where}.Data.{PERIOD_KEY}.{key} {problem}"
        if (remote_inv_id, year) in seen:
            return f"{where}: RemoteInvId {remote_inv_id} appears twice for Year {year}"
        seen.add((remote_inv_id, year))
    return None


def bad_kwh(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        return "must be a number or null"
    if value < 0:
        return "must not be negative"
    exponent = value.as_tuple().exponent if isinstance(value, Decimal) else 0
    if isinstance(exponent, int) and exponent < -3:
        return "is restricted to 3 decimal places"
    return None
