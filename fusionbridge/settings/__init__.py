"""The whole configuration (SPEC §3), read once from env, `.env`, a secrets dir and TOML.

Priority, highest first: environment, `.env`, secrets directory, TOML file, defaults. Every
problem is reported as one `location: message` line, never with the offending value, because
pydantic's default messages echo inputs and the inputs include secrets.
"""

from __future__ import annotations

import hashlib
import os
import tomllib
from contextvars import ContextVar
from pathlib import Path
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

from pydantic import (
    ModelWrapValidatorHandler,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    NestedSecretsSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from fusionbridge.core.inverters import InverterEntry
from fusionbridge.errors import ConfigError
from fusionbridge.settings.account_secrets import AccountSecretsLayer, take_account_keys
from fusionbridge.settings.accounts import (
    DEFAULT_ACCOUNT,
    AccountSettings,
    carried,
    duplicate_problems,
    form_problems,
    raise_problems,
)
from fusionbridge.settings.sections import (
    BaseUrl,
    FusionSolarAuth,
    FusionSolarSettings,
    HttpSettings,
    InverterSettings,
    IrecSettings,
    LiveSettings,
    LogSettings,
    MonthField,
    NotifySettings,
    RedexSettings,
    ScheduleSettings,
    StorageSettings,
    WallTime,
    ZoneName,
)

ENV_PREFIX = "FUSIONBRIDGE_"
CONFIG_ENV = "FUSIONBRIDGE_CONFIG"
SECRETS_DIR_ENV = "FUSIONBRIDGE_SECRETS_DIR"
DEFAULT_CONFIG_FILE = Path("fusionbridge.toml")

_toml_layer: ContextVar[dict[str, Any] | None] = ContextVar("_toml_layer", default=None)


class _TomlLayer(PydanticBaseSettingsSource):
    """The parsed TOML file, below the secrets directory in priority."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return (_toml_layer.get() or {}).get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(_toml_layer.get() or {})


class Settings(BaseSettings):
    """Everything fusionbridge is told; validated before any network call."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        env_file=".env",
        env_file_encoding="utf-8",
        secrets_prefix="",
        secrets_nested_delimiter="__",
        extra="forbid",
        frozen=True,
        allow_inf_nan=False,
    )

    timezone: ZoneName
    fusionsolar: FusionSolarSettings | None = None  # required unless [[accounts]] is used
    redex: RedexSettings | None = None  # required unless every [[accounts]] entry has its own
    schedule: ScheduleSettings = ScheduleSettings()
    storage: StorageSettings = StorageSettings()
    http: HttpSettings = HttpSettings()
    log: LogSettings = LogSettings()
    live: LiveSettings = LiveSettings()
    irec: IrecSettings = IrecSettings()
    notify: NotifySettings = NotifySettings()
    inverters: list[InverterSettings] = []
    accounts: list[AccountSettings] = []
    account: str = DEFAULT_ACCOUNT  # internal: the account a for_account() view is of; not in TOML

    @field_validator("inverters")
    @classmethod
    def _unique_remote_ids(cls, inverters: list[InverterSettings]) -> list[InverterSettings]:
        seen: set[str] = set()
        for inverter in inverters:
            if inverter.remote_inv_id in seen:
                raise ValueError(f"remote_inv_id {inverter.remote_inv_id!r} appears twice")
            seen.add(inverter.remote_inv_id)
        return inverters

    @field_validator("accounts")
    @classmethod
    def _unique_across_accounts(cls, accounts: list[AccountSettings]) -> list[AccountSettings]:
        raise_problems("accounts", duplicate_problems(accounts))
        return accounts

    @model_validator(mode="wrap")
    @classmethod
    def _one_form(cls, data: Any, handler: ModelWrapValidatorHandler[Settings]) -> Settings:
        """Part I form or [[accounts]], never both; its problems listed beside every field's own."""
        found = form_problems(data)
        try:
            settings = handler(data)
        except ValidationError as exc:
            if not found:
                raise
            raise ValidationError.from_exception_data(cls.__name__, carried(exc) + found) from None
        raise_problems(cls.__name__, found)
        return settings

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        secrets = NestedSecretsSettingsSource(file_secret_settings)
        toml = _TomlLayer(settings_cls)
        per_account = [  # lowest priority first; pydantic-settings would misread them
            take_account_keys(secrets, "", " (a file in the secrets directory)", env_style=False),
            take_account_keys(dotenv_settings, ENV_PREFIX, " (in .env)", env_style=True),
            take_account_keys(env_settings, ENV_PREFIX, "", env_style=True),
        ]
        return (
            init_settings,
            env_settings,
            _WithoutMetaKeys(dotenv_settings),
            secrets,
            AccountSecretsLayer(settings_cls, toml, per_account),
            toml,
        )

    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def inverter_entries(self) -> list[InverterEntry]:
        """The configured inverters as the plain values the core plans with (one account's view)."""
        return [entry.entry() for entry in self.inverters]

    def account_names(self) -> list[str]:
        """Every account served, in the file's order; the Part I form is one named `default`."""
        return [account.name for account in self.accounts] or [self.account]

    def for_account(self, name: str) -> Settings:
        """One account seen as a Part I configuration: its own [fusionsolar], [redex], inverters."""
        if not self.accounts and name == self.account:
            return self
        for account in self.accounts:
            if account.name == name:
                return self.model_copy(
                    update={
                        "fusionsolar": account.fusionsolar,
                        "redex": account.redex or self.redex,
                        "inverters": list(account.inverters),
                        "accounts": [],
                        "account": name,
                    }
                )
        known = ", ".join(self.account_names())
        raise ConfigError([f"--account: no account named {name!r} (configured: {known})"])

    def all_inverters(self) -> list[InverterSettings]:
        """Every account's inverters, for what spans them all (the REDEX registry is one)."""
        if not self.accounts:
            return list(self.inverters)
        return [inverter for account in self.accounts for inverter in account.inverters]

    def fusionsolar_settings(self) -> FusionSolarSettings:
        """This view's [fusionsolar], typed as present: validation guarantees it for a view."""
        if self.fusionsolar is None:
            raise ConfigError(
                ["fusionsolar: each [[accounts]] entry has its own: pick one account"]
            )
        return self.fusionsolar

    def redex_settings(self) -> RedexSettings:
        """This view's [redex], typed as present: validation guarantees it for a view."""
        if self.redex is None:
            raise ConfigError(["redex: each [[accounts]] entry has its own: pick one account"])
        return self.redex

    def redex_key(self) -> str:
        """Which REDEX business account this is, without its secrets: equal keys share a limiter."""
        redex = self.redex_settings()
        identity = (
            redex.base_url,
            redex.client_id,
            redex.api_key.get_secret_value(),
            redex.access_token.get_secret_value(),
        )
        return hashlib.sha256("\0".join(("fusionbridge.redex", *identity)).encode()).hexdigest()


class _WithoutMetaKeys(PydanticBaseSettingsSource):
    """The `.env` layer minus the keys that locate configuration rather than being it."""

    _META: ClassVar[frozenset[str]] = frozenset({CONFIG_ENV.lower(), SECRETS_DIR_ENV.lower()})

    def __init__(self, inner: PydanticBaseSettingsSource) -> None:
        super().__init__(inner.settings_cls)
        self._inner = inner

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return self._inner.get_field_value(field, field_name)

    def __call__(self) -> dict[str, Any]:
        return {k: v for k, v in self._inner().items() if k.lower() not in self._META}


def resolve_config_path(explicit: Path | None) -> Path | None:
    """`--config`, else FUSIONBRIDGE_CONFIG, else ./fusionbridge.toml when it exists."""
    if explicit is not None:
        return explicit
    from_env = os.environ.get(CONFIG_ENV)
    if from_env:
        return Path(from_env)
    return DEFAULT_CONFIG_FILE if DEFAULT_CONFIG_FILE.is_file() else None


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError([f"{path}: file does not exist"]) from None
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read it ({exc.strerror})"]) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"{path}: not valid TOML ({exc})"]) from None


def _describe(error: dict[str, Any]) -> str:
    location = ".".join(str(part) for part in error["loc"]) or "config"
    kind = error["type"]
    if kind == "missing":
        message = "required"
    elif kind == "extra_forbidden":
        message = "unknown key"
    else:
        message = str(error["msg"]).removeprefix("Value error, ")
    return f"{location}: {message}"


def _check_secret_files(directory: Path) -> None:
    """Every file in the secrets directory must be readable text: name the one that is not."""
    problems = []
    for path in sorted(directory.iterdir()):
        try:
            if path.is_file():
                path.read_text(encoding="utf-8")
        except OSError as exc:
            problems.append(f"{path}: cannot read this secret file ({exc.strerror or exc})")
        except UnicodeDecodeError:
            problems.append(f"{path}: cannot read this secret file (it is not UTF-8 text)")
    if problems:
        raise ConfigError(problems)


def load_settings(config_path: Path | None = None, **overrides: Any) -> Settings:
    """Build the settings from every source, or raise ConfigError listing every problem."""
    path = resolve_config_path(config_path)
    layer = _read_toml(path) if path is not None else {}
    secrets_dir = os.environ.get(SECRETS_DIR_ENV) or None
    if secrets_dir is not None and not Path(secrets_dir).is_dir():
        raise ConfigError([f"{SECRETS_DIR_ENV}: directory {secrets_dir} does not exist"])
    if secrets_dir is not None:
        _check_secret_files(Path(secrets_dir))
    token = _toml_layer.set(layer)
    try:
        return Settings(_secrets_dir=secrets_dir, **overrides)
    except ValidationError as exc:
        errors = exc.errors(include_input=False, include_url=False, include_context=False)
        raise ConfigError([_describe(dict(e)) for e in errors]) from None
    finally:
        _toml_layer.reset(token)


__all__ = [
    "CONFIG_ENV",
    "DEFAULT_ACCOUNT",
    "DEFAULT_CONFIG_FILE",
    "ENV_PREFIX",
    "SECRETS_DIR_ENV",
    "AccountSettings",
    "BaseUrl",
    "FusionSolarAuth",
    "FusionSolarSettings",
    "HttpSettings",
    "InverterSettings",
    "IrecSettings",
    "LiveSettings",
    "LogSettings",
    "MonthField",
    "NotifySettings",
    "RedexSettings",
    "ScheduleSettings",
    "Settings",
    "StorageSettings",
    "WallTime",
    "ZoneName",
    "load_settings",
    "resolve_config_path",
]
