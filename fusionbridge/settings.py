"""The whole configuration (SPEC §3), read once from env, `.env`, a secrets dir and TOML.

Priority, highest first: environment, `.env`, secrets directory, TOML file, defaults. Every
problem is reported as one `location: message` line, never with the offending value, because
pydantic's default messages echo inputs and the inputs include secrets.
"""

from __future__ import annotations

import os
import re
import tomllib
from contextvars import ContextVar
from datetime import date, time
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AnyHttpUrl,
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
    SecretStr,
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
from fusionbridge.core.models import Month, PlantMetric, ScheduleRules
from fusionbridge.errors import ConfigError

ENV_PREFIX = "FUSIONBRIDGE_"
CONFIG_ENV = "FUSIONBRIDGE_CONFIG"
SECRETS_DIR_ENV = "FUSIONBRIDGE_SECRETS_DIR"
DEFAULT_CONFIG_FILE = Path("fusionbridge.toml")
_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


def _parse_zone(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError("must be an IANA time zone name such as Europe/Amsterdam")
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {value!r} (use an IANA name)") from None
    return value


def _parse_hhmm(value: Any) -> time:
    if isinstance(value, time):
        return value
    match = _HHMM.match(value) if isinstance(value, str) else None
    if not match:
        raise ValueError("must be a 24-hour time HH:MM, e.g. 06:30")
    return time(int(match[1]), int(match[2]))


def _parse_month(value: Any) -> Month:
    if isinstance(value, Month):
        return value
    if not isinstance(value, str):
        raise ValueError("must be a month YYYY-MM")
    return Month.parse(value)


def _parse_base_url(value: Any) -> str:
    url = AnyHttpUrl(str(value))
    return str(url).rstrip("/")


ZoneName = Annotated[str, PlainValidator(_parse_zone)]
WallTime = Annotated[
    time, PlainValidator(_parse_hhmm), PlainSerializer(lambda t: t.strftime("%H:%M"))
]
MonthField = Annotated[Month, PlainValidator(_parse_month), PlainSerializer(str)]
BaseUrl = Annotated[str, PlainValidator(_parse_base_url)]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


FusionSolarAuth = Literal["account", "oauth"]
_AUTH_KEYS: dict[str, tuple[str, ...]] = {
    "account": ("username", "system_code"),
    "oauth": ("client_id", "client_secret"),
}


class FusionSolarSettings(_Section):
    """The northbound API account (or OAuth Connect application) and how gently to use it."""

    base_url: BaseUrl = "https://eu5.fusionsolar.huawei.com"
    auth: FusionSolarAuth = "account"
    username: str = ""
    system_code: SecretStr = SecretStr("")
    client_id: str = ""
    client_secret: SecretStr = SecretStr("")
    oauth_url: BaseUrl = "https://oauth2.fusionsolar.huawei.com"
    redirect_uri: str = "http://127.0.0.1:8765/callback"
    scope: str = Field(default="pvms.openapi.basic", min_length=1)
    min_interval_s: float = Field(default=65.0, gt=0)
    timeout_s: float = Field(default=60.0, gt=0)
    verify_tls: bool = True
    ca_bundle: Path | None = None

    @field_validator("ca_bundle", mode="before")
    @classmethod
    def _empty_is_none(cls, value: Any) -> Any:
        return None if value in ("", None) else value

    @field_validator("redirect_uri")
    @classmethod
    def _absolute_http(cls, value: str) -> str:
        """Kept exactly as given: Huawei compares it with the registered address character by character."""
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(
                "must be an absolute http(s) address such as http://127.0.0.1:8765/callback"
            )
        return value

    @model_validator(mode="after")
    def _credentials_of_mode(self) -> FusionSolarSettings:
        """Name every key the chosen `auth` mode still lacks (empty counts as missing)."""
        missing = [key for key in _AUTH_KEYS[self.auth] if not _given(getattr(self, key))]
        if missing:
            raise ValueError(f'auth = "{self.auth}" requires {", ".join(missing)}')
        return self


def _given(value: str | SecretStr) -> bool:
    text = value.get_secret_value() if isinstance(value, SecretStr) else value
    return bool(text.strip())


class RedexSettings(_Section):
    """The REDEX business account, its client credentials and the upstream rate limit."""

    base_url: BaseUrl
    client_id: str = ""
    client_secret: SecretStr = SecretStr("")
    api_key: SecretStr = SecretStr("")
    access_token: SecretStr = SecretStr("")
    rate_limit: int = Field(default=5, ge=1)
    rate_period_s: float = Field(default=5.0, gt=0)
    batch_size: int = Field(default=100, ge=1, le=1000)
    daily_batch_records: int = Field(default=3000, ge=1, le=3000)
    timeout_s: float = Field(default=60.0, gt=0)

    @model_validator(mode="after")
    def _one_credential(self) -> RedexSettings:
        grant = [
            self.client_id,
            self.client_secret.get_secret_value(),
            self.api_key.get_secret_value(),
        ]
        if self.access_token.get_secret_value() or all(grant):
            return self
        if any(grant):
            missing = [
                n
                for n, v in zip(("client_id", "client_secret", "api_key"), grant, strict=True)
                if not v
            ]
            raise ValueError(f"api_key grant is incomplete: set {', '.join(missing)}")
        raise ValueError("set either access_token or client_id, client_secret and api_key")

    @property
    def uses_static_token(self) -> bool:
        return bool(self.access_token.get_secret_value())


class ScheduleSettings(_Section):
    """When the daily sync and the monthly push happen, in each inverter's zone."""

    sync_at: WallTime = time(6, 30)
    push_day: int = Field(default=3, ge=1, le=28)
    push_at: WallTime = time(7, 0)
    correction_window_months: int = Field(default=2, ge=0, le=24)

    def rules(self) -> ScheduleRules:
        """The plain domain value the core plans with."""
        return ScheduleRules(
            self.sync_at, self.push_day, self.push_at, self.correction_window_months
        )


class StorageSettings(_Section):
    """Where the ledger lives: the SQLite `path`, or PostgreSQL at `url` (a secret) when set."""

    path: Path = Path("./data/fusionbridge.db")
    lease_ttl_s: float = Field(default=30.0, gt=0)
    url: SecretStr | None = None

    @field_validator("url", mode="before")
    @classmethod
    def _empty_is_none(cls, value: Any) -> Any:
        return None if value in ("", None) else value

    @field_validator("url")
    @classmethod
    def _postgres_url(cls, value: SecretStr | None) -> SecretStr | None:
        from fusionbridge.store.pg_url import url_problem  # not at import: the store loads drivers

        problem = None if value is None else url_problem(value.get_secret_value())
        if problem is not None:
            raise ValueError(problem)
        return value

    keep_raw_months: int = Field(default=36, ge=1, le=1200)


class HttpSettings(_Section):
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)


class LiveSettings(_Section):
    """Live plant figures for the page (SPEC §13): minutes between real-time reads, 0 = off."""

    interval_min: int = Field(default=15, ge=0, le=1440)


class LogSettings(_Section):
    format: Literal["auto", "json", "console"] = "auto"
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    @field_validator("level", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value


class InverterSettings(_Section):
    """One REDEX remote inverter and where its generation comes from in FusionSolar."""

    remote_inv_id: str = Field(min_length=1, max_length=100)
    esn: str | None = None
    device_id: int | None = None
    plant_code: str | None = None
    metric: PlantMetric | None = None
    timezone: ZoneName | None = None
    start_month: MonthField | None = None
    frequency: Literal["monthly", "daily"] = "monthly"

    @model_validator(mode="after")
    def _exactly_one_source(self) -> InverterSettings:
        given = [
            n for n in ("esn", "device_id", "plant_code") if getattr(self, n) not in (None, "")
        ]
        if len(given) != 1:
            what = "no source" if not given else f"two sources ({', '.join(given)})"
            raise ValueError(f"has {what}: set exactly one of esn, device_id, plant_code")
        if self.metric is not None and self.plant_code is None:
            raise ValueError("metric applies only to a plant_code source")
        return self

    def entry(self) -> InverterEntry:
        """The plain domain value the core plans with."""
        return InverterEntry(
            remote_inv_id=self.remote_inv_id,
            esn=self.esn,
            device_id=self.device_id,
            plant_code=self.plant_code,
            metric=self.metric,
            timezone=self.timezone,
            start_month=self.start_month,
            frequency=self.frequency,
        )


def _parse_deadline_key(value: str) -> str:
    if not _DEADLINE_KEY.match(value):
        raise ValueError(f"deadline key {value!r}: use YYYY-H1, YYYY-H2 or YYYY-MM")
    return value


_DEADLINE_KEY = re.compile(r"^\d{4}-(H1|H2|0[1-9]|1[0-2])$")


class IrecSettings(_Section):
    """I-REC issuance deadlines: the rolling rule, overridden per half-year or month."""

    deadlines: dict[Annotated[str, PlainValidator(_parse_deadline_key)], date] = {}


class NotifySettings(_Section):
    """Where event messages go: Apprise URLs (secrets: they carry tokens)."""

    urls: list[SecretStr] = []
    timeout_s: float = Field(default=10.0, gt=0, le=300)


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
    fusionsolar: FusionSolarSettings
    redex: RedexSettings
    schedule: ScheduleSettings = ScheduleSettings()
    storage: StorageSettings = StorageSettings()
    http: HttpSettings = HttpSettings()
    log: LogSettings = LogSettings()
    live: LiveSettings = LiveSettings()
    irec: IrecSettings = IrecSettings()
    notify: NotifySettings = NotifySettings()
    inverters: list[InverterSettings] = []

    @field_validator("inverters")
    @classmethod
    def _unique_remote_ids(cls, inverters: list[InverterSettings]) -> list[InverterSettings]:
        seen: set[str] = set()
        for inverter in inverters:
            if inverter.remote_inv_id in seen:
                raise ValueError(f"remote_inv_id {inverter.remote_inv_id!r} appears twice")
            seen.add(inverter.remote_inv_id)
        return inverters

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (
            init_settings,
            env_settings,
            _WithoutMetaKeys(dotenv_settings),
            NestedSecretsSettingsSource(file_secret_settings),
            _TomlLayer(settings_cls),
        )

    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def inverter_entries(self) -> list[InverterEntry]:
        """The configured inverters as the plain values the core plans with."""
        return [entry.entry() for entry in self.inverters]


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
