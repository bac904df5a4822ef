"""Many accounts (SPEC §14): the `[[accounts]]` entry and the rules that tie the two forms together.

The Part I form (top-level `[fusionsolar]` and `[[inverters]]`) is one account named `default`;
the `[[accounts]]` form names each one. The rules here report a problem at the place it is
(`accounts.1.inverters.0.remote_inv_id`), so they build pydantic line errors themselves.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from fusionbridge.settings.sections import FusionSolarSettings, InverterSettings, RedexSettings

DEFAULT_ACCOUNT = "default"
_NAME = re.compile(r"^[a-z0-9-]{1,40}$")

Loc = tuple[str | int, ...]


class AccountSettings(BaseModel):
    """One FusionSolar account, its inverters and, when it has one, its own REDEX account."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    name: str
    fusionsolar: FusionSolarSettings
    redex: RedexSettings | None = None
    inverters: list[InverterSettings] = []

    @field_validator("name")
    @classmethod
    def _slug(cls, value: str) -> str:
        """The name keys the ledger and the secrets' names, so it stays a plain slug."""
        if not _NAME.match(value):
            raise ValueError("must be 1 to 40 characters of a-z, 0-9 and -, e.g. solar-north")
        return value


def problem(loc: Loc, message: str) -> InitErrorDetails:
    """One line error at `loc`; the message is final text, never a template of the input."""
    return InitErrorDetails(type=PydanticCustomError("config", message), loc=loc, input=None)


def raise_problems(title: str, problems: Sequence[InitErrorDetails]) -> None:
    if problems:
        raise ValidationError.from_exception_data(title, list(problems))


def carried(exc: ValidationError) -> list[InitErrorDetails]:
    """Another validation's errors, kept with their kind and text so they can join ours."""
    return [
        InitErrorDetails(
            type=PydanticCustomError(str(e["type"]), str(e["msg"])),
            loc=tuple(e["loc"]),
            input=None,
        )
        for e in exc.errors(include_url=False, include_context=False, include_input=False)
    ]


def _get(item: Any, key: str) -> Any:
    return item.get(key) if isinstance(item, dict) else getattr(item, key, None)


def form_problems(data: Any) -> list[InitErrorDetails]:
    """What the raw input says about its form, found before (and beside) any field's errors."""
    if not isinstance(data, dict):
        return []
    found = []
    if "account" in data:
        found.append(problem(("account",), "not a setting: an account is chosen with --account"))
    accounts = data.get("accounts")
    if not accounts:
        found += [
            problem((key,), "required") for key in ("fusionsolar", "redex") if _absent(data, key)
        ]
        return found
    mixed = [table for key, table in _PART_ONE.items() if not _absent(data, key)]
    if mixed:
        found.append(
            problem(
                ("accounts",),
                f"cannot be used together with the top-level {' / '.join(mixed)} (use one form: "
                "move them into an [[accounts]] entry)",
            )
        )
    if isinstance(accounts, list) and _absent(data, "redex"):
        found += [
            problem(("accounts", i, "redex"), "required (no top-level [redex] to fall back on)")
            for i, account in enumerate(accounts)
            if isinstance(account, dict | AccountSettings) and _get(account, "redex") is None
        ]
    return found


_PART_ONE = {"fusionsolar": "[fusionsolar]", "inverters": "[[inverters]]"}


def _absent(data: dict[str, Any], key: str) -> bool:
    return data.get(key) in (None, [])


def duplicate_problems(accounts: Sequence[AccountSettings]) -> list[InitErrorDetails]:
    """Names and remote inverter ids are unique across all accounts; locations relative to `accounts`."""
    found = []
    names: dict[str, int] = {}
    for i, account in enumerate(accounts):
        if account.name in names:
            found.append(
                problem(
                    (i, "name"), f"{account.name!r} is used by accounts.{names[account.name]} too"
                )
            )
        names.setdefault(account.name, i)
    seen: dict[str, str] = {}
    for i, account in enumerate(accounts):
        for j, inverter in enumerate(account.inverters):
            rid = inverter.remote_inv_id
            if rid in seen:
                found.append(
                    problem(
                        (i, "inverters", j, "remote_inv_id"),
                        f"{rid!r} is used twice (also {seen[rid]})",
                    )
                )
            seen.setdefault(rid, f"accounts.{i}.inverters.{j}")
    return found
