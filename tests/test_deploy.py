"""Deployment files stay in step with the settings model and keep their safety settings."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tomllib
from collections.abc import Iterator
from pathlib import Path
from types import UnionType
from typing import Any, get_args

import pytest
from pydantic import BaseModel, SecretStr
from pydantic_core import PydanticUndefined

from fusionbridge.cli.main import EXIT_CONFIG
from fusionbridge.daemon.lifecycle import SHUTDOWN_GRACE_S
from fusionbridge.settings import (
    CONFIG_ENV,
    ENV_PREFIX,
    SECRETS_DIR_ENV,
    HttpSettings,
    InverterSettings,
    Settings,
    load_settings,
)

ROOT = Path(__file__).resolve().parent.parent
ENV_EXAMPLE = ROOT / ".env.example"
TOML_EXAMPLE = ROOT / "deploy" / "fusionbridge.toml.example"
UNIT = ROOT / "deploy" / "fusionbridge.service"
COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
STATE_DIR = "/var/lib/fusionbridge"
META_KEYS = {CONFIG_ENV, SECRETS_DIR_ENV}
ASSIGNMENT = re.compile(r"^(#\s*)?(FUSIONBRIDGE_[A-Z0-9_]+)=(.*)$")


# --- the settings model, walked ---------------------------------------------------------------


def scalar_settings(
    model: type[BaseModel], prefix: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], Any]]:
    """Every leaf setting as (path, field info); sections recurse, lists belong to the TOML."""
    for name, field in model.model_fields.items():
        if not prefix and name == "account":
            continue  # internal: the account a for_account() view is of, never configured
        annotation = optional_section(field.annotation)
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            yield from scalar_settings(annotation, (*prefix, name))
        elif getattr(annotation, "__origin__", None) is list:
            continue
        else:
            yield (*prefix, name), field


def optional_section(annotation: Any) -> Any:
    """`Section | None` (a table the [[accounts]] form leaves out) walks like `Section`."""
    args = [a for a in get_args(annotation) if a is not type(None)]
    section = args[0] if isinstance(annotation, UnionType) and len(args) == 1 else None
    if isinstance(section, type) and issubclass(section, BaseModel):
        return section
    return annotation


def env_name(path: tuple[str, ...]) -> str:
    return ENV_PREFIX + "__".join(path).upper()


def secret_paths() -> set[tuple[str, ...]]:
    secret = (SecretStr, SecretStr | None)
    return {path for path, field in scalar_settings(Settings) if field.annotation in secret}


def known_env_names() -> set[str]:
    return {env_name(path) for path, _ in scalar_settings(Settings)} | META_KEYS


def test_model_walk_sees_sections_secrets_and_only_the_toml_lists_as_lists() -> None:
    paths = {path for path, _ in scalar_settings(Settings)}
    assert ("fusionsolar", "system_code") in paths
    assert ("log", "level") in paths
    assert ("timezone",) in paths
    assert secret_paths() == {
        ("fusionsolar", "system_code"),
        ("fusionsolar", "client_secret"),
        ("redex", "client_secret"),
        ("redex", "api_key"),
        ("redex", "access_token"),
        ("storage", "url"),
    }
    lists = {
        name
        for name, field in Settings.model_fields.items()
        if getattr(field.annotation, "__origin__", None) is list
    }
    assert lists == {"inverters", "accounts"}


# --- .env.example ------------------------------------------------------------------------------


def env_example_lines() -> list[str]:
    return ENV_EXAMPLE.read_text(encoding="utf-8").splitlines()


def env_assignments() -> list[tuple[bool, str, str]]:
    """(live, key, value) for every line that sets a variable, commented out or not."""
    found = []
    for line in env_example_lines():
        match = ASSIGNMENT.match(line)
        if match:
            found.append((match[1] is None, match[2], match[3]))
    return found


def test_env_example_names_every_setting_and_nothing_else() -> None:
    keys = [key for _, key, _ in env_assignments()]
    assert len(keys) == len(set(keys)), "a variable appears twice"
    assert set(keys) == known_env_names()
    assert "[[inverters]]" in ENV_EXAMPLE.read_text(encoding="utf-8")


def test_env_example_comments_every_variable_in_one_line() -> None:
    lines = env_example_lines()
    for number, line in enumerate(lines):
        if ASSIGNMENT.match(line):
            above = lines[number - 1]
            assert above.startswith("# "), line
            assert not ASSIGNMENT.match(above), line
            assert len(above) > len("# ") + 10, f"comment above {line} says too little"


def test_env_example_holds_no_secret_and_sets_only_secrets() -> None:
    secrets = {env_name(path) for path in secret_paths()}
    for live, key, value in env_assignments():
        if key in secrets:
            assert value == "", f"{key} must be an empty placeholder"
        if live:
            assert key in secrets, f"{key} is live and would override fusionbridge.toml"
    live_keys = {key for live, key, _ in env_assignments() if live}
    assert env_name(("fusionsolar", "system_code")) in live_keys


def test_env_example_uncommented_is_valid_and_shows_the_defaults(tmp_path: Path) -> None:
    secrets = {env_name(path) for path in secret_paths()}
    lines = []
    for _, key, shown in env_assignments():
        if key in META_KEYS or key == env_name(("storage", "url")):  # set, it leaves SQLite
            continue
        lines.append(f"{key}={'placeholder-' + key.lower() if key in secrets else shown}")
    (tmp_path / ".env").write_text("\n".join(lines) + "\n", encoding="utf-8")

    settings = load_settings(None)
    assert settings.fusionsolar_settings().username == "api-user", "the .env file was not read"

    checked = 0
    for path, field in scalar_settings(Settings):
        if field.default is PydanticUndefined or field.annotation is SecretStr:
            continue
        if path == ("fusionsolar", "username"):
            continue  # required with auth = "account", so .env.example shows an example value
        value: Any = settings
        for part in path:
            value = getattr(value, part)
        assert value == field.default, (
            f"{env_name(path)} shows {value!r}, default {field.default!r}"
        )
        checked += 1
    assert checked >= 15


# --- deploy/fusionbridge.toml.example ----------------------------------------------------------


def toml_keys_with_commented() -> set[tuple[str, ...]]:
    """(section, key) of every key line, including commented-out ones."""
    section: tuple[str, ...] = ()
    keys: set[tuple[str, ...]] = set()
    for raw in TOML_EXAMPLE.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        header = re.match(r"^\[\[?([a-z_]+)\]\]?$", line)
        if header:
            section = (header[1],)
            continue
        key = re.match(r"^#?\s*([a-z_]+)\s*=", line)
        if key:
            keys.add((*section, key[1]))
    return keys


def test_toml_example_loads_with_secrets_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for path in secret_paths() - {("redex", "access_token"), ("storage", "url")}:
        monkeypatch.setenv(env_name(path), "from-environment")
    settings = load_settings(TOML_EXAMPLE)
    assert settings.timezone == "Europe/Amsterdam"
    sources = {inverter.entry().describe().split()[0] for inverter in settings.inverters}
    assert sources == {"esn", "device_id", "plant_code"}


def test_toml_example_shows_every_key_but_sets_no_secret() -> None:
    shown = toml_keys_with_commented()
    for path, _ in scalar_settings(Settings):
        assert path in shown, f"{'.'.join(path)} is missing from the example"
    for name in InverterSettings.model_fields:
        assert ("inverters", name) in shown, f"inverters.{name} is missing from the example"
    parsed = tomllib.loads(TOML_EXAMPLE.read_text(encoding="utf-8"))
    for section, key in secret_paths():
        assert key not in parsed.get(section, {}), f"{section}.{key} is set in the example"


# --- deploy/fusionbridge.service ---------------------------------------------------------------


def unit_entries() -> dict[str, list[tuple[str, str]]]:
    """Section -> (key, value) in order; repeated keys are kept, as systemd does."""
    sections: dict[str, list[tuple[str, str]]] = {}
    current = ""
    for raw in UNIT.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = line[1:-1]
            sections.setdefault(current, [])
            continue
        key, _, value = line.partition("=")
        sections[current].append((key.strip(), value.strip()))
    return sections


def service_values(key: str) -> list[str]:
    return [value for k, value in unit_entries()["Service"] if k == key]


def service_value(key: str) -> str:
    values = service_values(key)
    assert len(values) == 1, f"{key} set {len(values)} times"
    return values[0]


def test_unit_notifies_watchdogs_and_restarts_except_on_config_errors() -> None:
    assert service_value("Type") == "notify"
    assert service_value("NotifyAccess") == "main"
    assert service_value("WatchdogSec").rstrip("s").isdigit()
    assert service_value("Restart") == "on-failure"
    assert str(EXIT_CONFIG) in service_value("RestartPreventExitStatus").split()
    assert service_value("ExecStart").split()[1:] == ["run"]
    assert unit_entries()["Install"] == [("WantedBy", "multi-user.target")]


def seconds(text: str) -> float:
    assert text.endswith("s"), text
    return float(text.removesuffix("s"))


def test_stop_timeouts_outlast_the_daemons_shutdown_grace() -> None:
    """Neither systemd nor Docker may SIGKILL a daemon still finishing its job in flight."""
    assert seconds(service_value("TimeoutStopSec")) > SHUTDOWN_GRACE_S + 5
    assert seconds(compose_service()["stop_grace_period"]) > SHUTDOWN_GRACE_S + 5


def test_unit_runs_as_a_dynamic_user_with_its_own_state_and_config() -> None:
    assert service_value("DynamicUser") == "yes"
    assert service_value("User") == "fusionbridge"
    assert service_value("StateDirectory") == "fusionbridge"
    assert service_value("ConfigurationDirectory") == "fusionbridge"
    environment = dict(value.split("=", 1) for value in service_values("Environment"))
    fusionbridge_vars = {k for k in environment if k.startswith(ENV_PREFIX)}
    assert fusionbridge_vars <= known_env_names()
    assert environment[SECRETS_DIR_ENV] == "%d"
    assert environment[CONFIG_ENV] == "%E/fusionbridge/fusionbridge.toml"
    assert environment[env_name(("storage", "path"))].startswith("%S/fusionbridge/")


def test_unit_loads_credentials_named_after_secret_settings() -> None:
    credentials = dict(value.split(":", 1) for value in service_values("LoadCredential"))
    names = {"__".join(path) for path in secret_paths()}
    assert set(credentials) <= names
    assert {"fusionsolar__system_code", "redex__client_secret", "redex__api_key"} <= set(
        credentials
    )
    for name, source in credentials.items():
        assert source == f"/etc/fusionbridge/credentials/{name}"


def test_unit_is_hardened() -> None:
    expected = {
        "NoNewPrivileges": "yes",
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
        "PrivateDevices": "yes",
        "ProtectKernelTunables": "yes",
        "ProtectControlGroups": "yes",
        "RestrictAddressFamilies": "AF_UNIX AF_INET AF_INET6",
        "RestrictNamespaces": "yes",
        "RestrictSUIDSGID": "yes",
        "LockPersonality": "yes",
        "MemoryDenyWriteExecute": "yes",
        "SystemCallArchitectures": "native",
        "CapabilityBoundingSet": "",
        "UMask": "0077",
    }
    for key, value in expected.items():
        assert service_value(key) == value, key
    assert "@system-service" in service_values("SystemCallFilter")


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed")
def test_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    """Verify a copy whose ExecStart points at an existing binary (the real one is not installed)."""
    stub = shutil.which("true")
    assert stub is not None
    text = UNIT.read_text(encoding="utf-8")
    stubbed = re.sub(r"^ExecStart=\S+", f"ExecStart={stub}", text, count=1, flags=re.MULTILINE)
    assert stubbed != text
    copy = tmp_path / "fusionbridge.service"
    copy.write_text(stubbed, encoding="utf-8")
    result = subprocess.run(
        [shutil.which("systemd-analyze") or "systemd-analyze", "verify", str(copy)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert (result.stdout + result.stderr).strip() == ""


# --- docker-compose.yml ------------------------------------------------------------------------


def parse_block_yaml(text: str) -> Any:
    """The block-style YAML subset the compose file uses: mappings, `- ` lists, JSON flow lists."""
    rows = []
    for raw in text.splitlines():
        stripped = raw.split(" #", 1)[0].rstrip() if not raw.lstrip().startswith("#") else ""
        if stripped:
            rows.append((len(stripped) - len(stripped.lstrip()), stripped.strip()))

    def scalar(token: str) -> Any:
        if token.startswith("["):
            return json.loads(token)
        if token in ("true", "false"):
            return token == "true"
        return token.strip('"')

    def block(start: int, indent: int) -> tuple[Any, int]:
        if rows[start][1].startswith("- "):
            items: list[Any] = []
            index = start
            while index < len(rows) and rows[index][0] == indent:
                items.append(scalar(rows[index][1][2:]))
                index += 1
            return items, index
        mapping: dict[str, Any] = {}
        index = start
        while index < len(rows) and rows[index][0] == indent:
            key, _, rest = rows[index][1].partition(":")
            rest = rest.strip()
            index += 1
            if rest:
                mapping[key] = scalar(rest)
            elif index < len(rows) and rows[index][0] > indent:
                mapping[key], index = block(index, rows[index][0])
            else:
                mapping[key] = None
        return mapping, index

    parsed, end = block(0, 0)
    assert end == len(rows), f"unparsed line: {rows[end]}"
    return parsed


def test_block_yaml_parser_reads_nesting_lists_and_flow_lists() -> None:
    text = 'a:\n  b: "x:y"  # note\n  c:\n    - one\n  d: ["CMD", "go"]\n  e: true\nf:\n'
    assert parse_block_yaml(text) == {
        "a": {"b": "x:y", "c": ["one"], "d": ["CMD", "go"], "e": True},
        "f": None,
    }


def compose_service() -> dict[str, Any]:
    document = parse_block_yaml(COMPOSE.read_text(encoding="utf-8"))
    assert list(document["services"]) == ["fusionbridge"]
    service: dict[str, Any] = document["services"]["fusionbridge"]
    return service


def test_compose_restarts_reads_env_and_keeps_state_in_a_named_volume() -> None:
    document = parse_block_yaml(COMPOSE.read_text(encoding="utf-8"))
    service = compose_service()
    assert service["restart"] in ("unless-stopped", "always")
    assert service["env_file"] == [".env"]
    volume = f"fusionbridge-state:{STATE_DIR}"
    assert volume in service["volumes"]
    assert "fusionbridge-state" in document["volumes"]
    config = service["environment"][CONFIG_ENV]
    assert f"./fusionbridge.toml:{config}:ro" in service["volumes"]


def test_compose_publishes_on_loopback_and_checks_health() -> None:
    service = compose_service()
    assert service["ports"] == [f"127.0.0.1:{HttpSettings().port}:{HttpSettings().port}"]
    assert service["healthcheck"]["test"] == ["CMD", "fusionbridge", "healthcheck"]
    assert service["init"] is True


def test_compose_is_locked_down_and_rotates_logs() -> None:
    service = compose_service()
    assert service["read_only"] is True
    assert service["tmpfs"] == ["/tmp"]  # noqa: S108
    assert service["cap_drop"] == ["ALL"]
    assert service["security_opt"] == ["no-new-privileges:true"]
    logging = service["logging"]
    assert logging["driver"] == "json-file"
    assert set(logging["options"]) == {"max-size", "max-file"}


# --- Dockerfile and .dockerignore --------------------------------------------------------------


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text(encoding="utf-8"))
    found = []
    for raw in text.splitlines():
        line = raw.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            found.append((word.upper(), " ".join(rest.split())))
    return found


def docker_args(instruction: str) -> list[str]:
    return [rest for word, rest in dockerfile_instructions() if word == instruction]


def test_dockerfile_pins_swappable_bases_and_builds_from_the_lock() -> None:
    args = dict(arg.split("=", 1) for arg in docker_args("ARG"))
    assert re.fullmatch(r"python:3\.\d+-slim-\w+", args["PYTHON_IMAGE"])
    assert re.fullmatch(r"ghcr\.io/astral-sh/uv:\d+\.\d+\.\d+", args["UV_IMAGE"])
    runs = " ".join(docker_args("RUN"))
    assert "uv sync --locked --no-dev --no-editable" in runs
    assert "--mount=type=secret,id=ca_bundle" in runs
    assert len(docker_args("FROM")) >= 3


def test_dockerfile_runtime_is_non_root_read_only_friendly_and_healthchecked() -> None:
    assert docker_args("USER")[-1] == "10001:10001"
    assert docker_args("VOLUME") == [f'["{STATE_DIR}"]']
    env = " ".join(docker_args("ENV"))
    settings_env = dict(re.findall(r"(FUSIONBRIDGE_[A-Z0-9_]+)=(\S+)", env))
    assert set(settings_env) <= known_env_names()
    assert settings_env[env_name(("storage", "path"))].startswith(STATE_DIR + "/")
    assert settings_env[env_name(("http", "host"))] == "0.0.0.0"  # noqa: S104
    assert "PYTHONDONTWRITEBYTECODE=1" in env
    assert docker_args("HEALTHCHECK")[-1].endswith('CMD ["fusionbridge", "healthcheck"]')
    assert docker_args("ENTRYPOINT") == ['["fusionbridge"]']
    assert docker_args("CMD") == ['["run"]']
    assert docker_args("EXPOSE") == [str(HttpSettings().port)]


def test_dockerignore_sends_only_the_package_and_never_secrets() -> None:
    patterns = [
        line.strip()
        for line in DOCKERIGNORE.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert patterns[0] == "*"
    allowed = {p[1:] for p in patterns if p.startswith("!")}
    assert allowed == {"pyproject.toml", "uv.lock", "README.md", "fusionbridge/"}
    for never in ("**/.env", "**/*.db", "**/.venv", "**/.git", "**/__pycache__"):
        assert never in patterns
