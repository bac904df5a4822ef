"""An account's secrets from the environment, `.env` or the secrets directory (SPEC §14).

`FUSIONBRIDGE_ACCOUNTS__SOLAR_NORTH__FUSIONSOLAR__SYSTEM_CODE` (name upper-cased, `-` as `_`) and
the secrets file `accounts__solar-north__fusionsolar__system_code` set one key of the TOML's
`[[accounts]]` entry of that name. Left to pydantic-settings, such keys would build a whole new
`accounts` value and replace the file's list, so they are taken out of its sources and laid onto
the matching entries here, in the usual priority: environment, `.env`, secrets directory, TOML.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, EnvSettingsSource, PydanticBaseSettingsSource

from fusionbridge.errors import ConfigError
from fusionbridge.settings.sections import FusionSolarSettings, RedexSettings

_SECTIONS: dict[str, type[BaseModel]] = {"fusionsolar": FusionSolarSettings, "redex": RedexSettings}


@dataclass(frozen=True)
class AccountKeys:
    """The per-account keys one source held, and how that source spells them."""

    keys: Mapping[str, str]
    stem: str  # "fusionbridge_accounts" or "accounts", lower case as the sources keep keys
    where: str  # how an error line says which source it was
    env_style: bool  # names upper-cased with "-" as "_" (variables) or written as is (files)

    def shown(self, key: str) -> str:
        return key.upper() if self.env_style else key

    def form(self) -> str:
        return self.shown("__".join((self.stem, "<name>", "fusionsolar|redex", "<key>")))


def take_account_keys(
    source: PydanticBaseSettingsSource, prefix: str, where: str, *, env_style: bool
) -> AccountKeys:
    """Remove the `<prefix>accounts…` keys from a source and hand them back."""
    stem = f"{prefix.lower()}accounts"
    if not isinstance(source, EnvSettingsSource):
        return AccountKeys({}, stem, where, env_style)
    held = source.env_vars
    taken = {k for k in held if k == stem or k.startswith(f"{stem}__")}
    if taken:
        source.env_vars = {k: v for k, v in held.items() if k not in taken}
    keys = {k: v for k in sorted(taken) if (v := held[k]) is not None}
    return AccountKeys(keys, stem, where, env_style)


def lay_on(accounts: Any, sources: list[AccountKeys]) -> list[Any]:
    """The TOML's account entries with every per-account key set; sources lowest priority first."""
    entries = (
        [dict(a) if isinstance(a, dict) else a for a in accounts]
        if isinstance(accounts, list)
        else []
    )
    names = [e.get("name") if isinstance(e, dict) else None for e in entries]
    configured = ", ".join(n for n in names if isinstance(n, str)) or "no [[accounts]] at all"
    problems = []
    for source in sources:
        index = {
            (n.upper().replace("-", "_") if source.env_style else n): i
            for i, n in reversed(list(enumerate(names)))
            if isinstance(n, str)
        }
        for key, value in source.keys.items():
            found = _place(key, source, index, configured)
            if isinstance(found, str):
                problems.append(f"{source.shown(key)}: {found}{source.where}")
                continue
            i, section, field = found
            table = entries[i].get(section, {})
            if isinstance(table, dict):
                entries[i][section] = {**table, field: value}
    if problems:
        raise ConfigError(problems)
    return entries


def _place(
    key: str, source: AccountKeys, index: Mapping[str, int], configured: str
) -> tuple[int, str, str] | str:
    """Where a key belongs (entry, section, field), or what is wrong with it."""
    if key == source.stem:
        return f"accounts are listed in the TOML file only; set their keys as {source.form()}"
    parts = key[len(source.stem) + 2 :].rsplit("__", 2)
    if (
        len(parts) != 3
        or parts[1] not in _SECTIONS
        or parts[2] not in _SECTIONS[parts[1]].model_fields
    ):
        return f"unknown setting (an account's key is spelt {source.form()})"
    name, section, field = parts
    if (key_name := name.upper() if source.env_style else name) not in index:
        return f"names no configured account (configured: {configured})"
    return index[key_name], section, field


class AccountSecretsLayer(PydanticBaseSettingsSource):
    """The TOML's `accounts` with their keys from the environment, `.env` and secrets files."""

    def __init__(
        self,
        settings_cls: type[BaseSettings],
        toml: PydanticBaseSettingsSource,
        sources: list[AccountKeys],
    ) -> None:
        super().__init__(settings_cls)
        self._toml = toml
        self._sources = sources

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        if not any(source.keys for source in self._sources):
            return {}
        return {"accounts": lay_on(self._toml().get("accounts"), self._sources)}
