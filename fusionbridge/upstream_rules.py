"""Settings that break an upstream rule: allowed (tests and simulators need them), never silent.

Each finding becomes one warning line at start (SPEC §10): Huawei bans accounts that call an
endpoint more than once a minute, REDEX answers 429 above 5 requests per 5 s, and a bridge that
skips TLS or sends credentials in clear over a network hands them to whoever listens.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from fusionbridge.settings import Settings

FUSIONSOLAR_MIN_INTERVAL_S = 60.0
REDEX_RATE = 5 / 5.0  # requests per second: 5 in any 5 s window


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _cleartext(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme != "https" and not _loopback(parts.hostname or "")


def upstream_rule_breaks(settings: Settings) -> list[tuple[str, str]]:
    """(setting, why it breaks an upstream rule) for every such setting, in a stable order."""
    found: list[tuple[str, str]] = []
    for name in settings.account_names():
        view = settings.for_account(name)
        where = "" if not settings.accounts else f"accounts.{name}."
        found += [(where + key, why) for key, why in _breaks(view)]
    return list(dict.fromkeys(found))  # accounts sharing the top-level [redex] name it once


def _breaks(settings: Settings) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    fs, rx = settings.fusionsolar_settings(), settings.redex_settings()
    if fs.min_interval_s < FUSIONSOLAR_MIN_INTERVAL_S:
        found.append(
            (
                "fusionsolar.min_interval_s",
                f"{fs.min_interval_s:g} s is below Huawei's one call per endpoint per minute "
                "(failCode 407, and repeated excess can lock the account)",
            )
        )
    if rx.rate_limit / rx.rate_period_s > REDEX_RATE:
        found.append(
            (
                "redex.rate_limit",
                f"{rx.rate_limit} per {rx.rate_period_s:g} s is above REDEX's 5 requests per 5 s",
            )
        )
    if not fs.verify_tls:
        found.append(
            ("fusionsolar.verify_tls", "false: the FusionSolar certificate is not checked")
        )
    for name, url in (("fusionsolar.base_url", fs.base_url), ("redex.base_url", rx.base_url)):
        if _cleartext(url):
            found.append((name, f"{url} is not HTTPS and not loopback: credentials go in clear"))
    return found
