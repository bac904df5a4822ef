"""failCode 20056 in words: which data the owner has not granted, and what the owner must do."""

from __future__ import annotations

from collections.abc import Mapping

from fusionbridge.errors import FusionSolarApiError
from fusionbridge.fusionsolar.wire import FailCode

SHOWN = 5
"""How many plant codes or device ids a message names before it counts the rest."""


def _named(kind: str, raw: object) -> str:
    items = [part for part in str(raw).split(",") if part]
    shown = ", ".join(items[:SHOWN])
    more = f" and {len(items) - SHOWN} more" if len(items) > SHOWN else ""
    return f" for {kind} {shown}{more}"


def owner_refused(endpoint: str, body: Mapping[str, object]) -> FusionSolarApiError:
    """The permanent error for 20056, naming the call and the plants or devices it asked for."""
    what = ""
    if body.get("stationCodes"):
        what = _named("plants", body["stationCodes"])
    elif body.get("devIds"):
        what = _named("devices", body["devIds"])
    return FusionSolarApiError(
        FailCode.OWNER_NOT_AUTHORISED,
        f"FusionSolar {endpoint}{what}: the plant owner has not authorised this data; "
        "the owner must grant fusionbridge access to these plants in FusionSolar "
        "(OAuth: run `fusionbridge authorize` again and approve them; API account: "
        "ask the installer to assign the plants to the northbound account)",
    )
