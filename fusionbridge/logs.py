"""structlog for everything, stdlib loggers included: JSON off a TTY, console on one, secrets masked."""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any, TextIO

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

SECRET_KEYS = frozenset(
    {
        "access_token",
        "api_key",
        "apikey",
        "authorization",
        "authorization_code",
        "bearer",
        "client_secret",
        "clientsecret",
        "cookie",
        "password",
        "refresh_token",
        "refreshtoken",
        "accesstoken",
        "system_code",
        "systemcode",
        "token",
        "xsrf_token",
        "xsrf-token",
    }
)
_MASK = "***"
_BEARER = re.compile(r"(?i)\b(bearer\s+)[A-Za-z0-9._~+/=-]+")
_TOKEN_ASSIGNMENT = re.compile(
    r"(?i)(\baccess_token|\brefresh_token|\bclient_secret|[?&]code)"
    r"(['\"]?\s*[:=]\s*['\"]?)[^\s'\",;&}]+"
)
_QUIET_LOGGERS = {
    "aiohttp.access": logging.WARNING,
    "apscheduler": logging.WARNING,
    "apprise": logging.CRITICAL,  # its messages can carry notification URLs, which hold tokens
}
_THIRD_PARTY_FLOORS = {"aiosqlite": logging.WARNING, "": logging.INFO}
"""Below these levels a library's records are dropped whatever `log.level` says: aiosqlite's
debug lines carry SQL parameters (the FusionSolar session token), aiohttp's carry headers."""


class ThirdPartyFloor(logging.Filter):
    """Drop other libraries' debug records, which may print parameters, headers or bodies."""

    def filter(self, record: logging.LogRecord) -> bool:
        name = record.name
        if name == "fusionbridge" or name.startswith("fusionbridge."):
            return True
        root = name.split(".", 1)[0]
        floor = _THIRD_PARTY_FLOORS.get(root, _THIRD_PARTY_FLOORS[""])
        return record.levelno >= floor


def scrub_text(text: str) -> str:
    """Mask bearer tokens and OAuth form values inside free text (errors, URLs, bodies)."""
    return _TOKEN_ASSIGNMENT.sub(rf"\1\2{_MASK}", _BEARER.sub(rf"\1{_MASK}", text))


def _redact(value: Any) -> Any:
    if isinstance(value, str):
        return scrub_text(value)
    if isinstance(value, MutableMapping):
        return {
            k: (_MASK if str(k).lower() in SECRET_KEYS else _redact(v)) for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [_redact(v) for v in value]
    return value


def redact_secrets(_logger: WrappedLogger, _name: str, event: EventDict) -> EventDict:
    """Mask values whose key names a secret, at any depth, whatever the caller forgot."""
    for key in list(event):
        if key.lower() in SECRET_KEYS:
            event[key] = _MASK
        elif isinstance(event[key], str | MutableMapping | list | tuple):
            event[key] = _redact(event[key])
    return event


def configure_logging(fmt: str = "auto", level: str = "INFO", stream: TextIO | None = None) -> None:
    """Route structlog and stdlib logging through one handler on stderr (stdout is for output)."""
    out = stream or sys.stderr
    if fmt == "auto":
        fmt = "console" if out.isatty() else "json"
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.ExtraAdder(),
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        redact_secrets,
    ]
    renderer: list[Processor]
    if fmt == "json":
        renderer = [
            structlog.processors.ExceptionRenderer(
                structlog.tracebacks.ExceptionDictTransformer(show_locals=False)
            ),
            structlog.processors.JSONRenderer(),
        ]
    else:
        renderer = [
            structlog.dev.ConsoleRenderer(
                colors=out.isatty(),
                exception_formatter=structlog.dev.plain_traceback,
            )
        ]
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(out)
    handler.addFilter(ThirdPartyFloor())
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *renderer],
        )
    )
    root = logging.getLogger()
    for old in root.handlers[:]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    for name, floor in _QUIET_LOGGERS.items():
        logging.getLogger(name).setLevel(max(floor, logging.getLevelName(level)))
    logging.getLogger("aiosqlite").setLevel(max(logging.WARNING, logging.getLevelName(level)))


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    """A structlog logger named after its module."""
    logger: structlog.stdlib.BoundLogger = structlog.stdlib.get_logger(name)
    return logger
