"""The configuration's sections and their value types: one validated model per TOML table."""

from __future__ import annotations

import re
from datetime import date, time
from pathlib import Path
from typing import Annotated, Any, Literal
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
    field_validator,
    model_validator,
)

from fusionbridge.core.inverters import InverterEntry
from fusionbridge.core.models import Month, PlantMetric, ScheduleRules

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
