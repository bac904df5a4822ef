"""The fleet compose file: one official PostgreSQL, two hardened replicas, secrets only in files."""

from __future__ import annotations

import re
import shutil
import subprocess
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from fusionbridge.settings import (
    CONFIG_ENV,
    SECRETS_DIR_ENV,
    FusionSolarSettings,
    HttpSettings,
    InverterSettings,
    Settings,
    load_settings,
)
from tests.test_deploy import (
    COMPOSE,
    ROOT,
    compose_service,
    env_name,
    parse_block_yaml,
    secret_paths,
)

FLEET = ROOT / "deploy" / "docker-compose.fleet.yml"
FLEET_TOML = ROOT / "deploy" / "fusionbridge.fleet.toml.example"
DATABASE = "postgres"
SECRETS_MOUNT = "/run/secrets"
PG_DATA = "/var/lib/postgresql/data"
ACCOUNT_NAME = re.compile(r"[a-z0-9-]+")
URL_WITH_PASSWORD = re.compile(r"://[^/@\s]*:[^/@\s]*@")
SOURCES = ("esn", "device_id", "plant_code")
HARDENING = (
    "image",
    "init",
    "restart",
    "read_only",
    "tmpfs",
    "cap_drop",
    "security_opt",
    "stop_grace_period",
    "healthcheck",
    "logging",
)
"""Keys a replica shares with the single-instance service in docker-compose.yml, value for value."""


def fleet() -> dict[str, Any]:
    document: dict[str, Any] = parse_block_yaml(FLEET.read_text(encoding="utf-8"))
    return document


def database() -> dict[str, Any]:
    service: dict[str, Any] = fleet()["services"][DATABASE]
    return service


def replicas() -> dict[str, dict[str, Any]]:
    return {name: s for name, s in fleet()["services"].items() if name != DATABASE}


def fleet_toml() -> dict[str, Any]:
    return tomllib.loads(FLEET_TOML.read_text(encoding="utf-8"))


def strings(value: Any) -> Iterator[str]:
    """Every key and scalar in a parsed document, recursively."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield str(key)
            yield from strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)
    elif value is not None:
        yield str(value)


def secret_file_names() -> set[str]:
    """Secrets-directory names the settings read: `section__key`, and per account
    `accounts__<name>__section__key` for the accounts of the fleet example."""
    top = {"__".join(path) for path in secret_paths()}
    accounts = [account["name"] for account in fleet_toml()["accounts"]]
    per_account = {
        f"accounts__{name}__{section}__{key}"
        for name in accounts
        for section, key in secret_paths()
        if section in ("fusionsolar", "redex")
    }
    return top | per_account


# --- the database ------------------------------------------------------------------------------


def test_database_is_the_official_postgres_image_pinned_to_a_major_version() -> None:
    assert next(iter(fleet()["services"])) == DATABASE
    assert re.fullmatch(r"postgres:\d+", database()["image"]), database()["image"]
    assert "build" not in database()
    assert database()["restart"] in ("unless-stopped", "always")
    assert database()["stop_signal"] == "SIGINT", "fast shutdown: the replicas never disconnect"


def test_database_keeps_its_data_in_a_named_volume_and_is_not_published() -> None:
    (mount,) = database()["volumes"]
    volume, _, target = mount.partition(":")
    assert target == PG_DATA
    assert volume in fleet()["volumes"], "a named volume, not a bind mount"
    assert "ports" not in database(), "only the replicas reach PostgreSQL, on the compose network"


def test_database_is_healthy_only_when_pg_isready_says_so() -> None:
    health = database()["healthcheck"]
    assert health["test"][:2] == ["CMD", "pg_isready"]
    env = database()["environment"]
    assert f"--username={env['POSTGRES_USER']}" in health["test"]
    assert f"--dbname={env['POSTGRES_DB']}" in health["test"]
    assert {"interval", "timeout", "retries"} <= set(health)


def test_database_password_comes_from_a_secret_file() -> None:
    env = database()["environment"]
    assert "POSTGRES_PASSWORD" not in env
    mounted = env["POSTGRES_PASSWORD_FILE"].removeprefix(SECRETS_MOUNT + "/")
    assert database()["secrets"] == [mounted]
    assert set(fleet()["secrets"][mounted]) == {"file"}


# --- the replicas ------------------------------------------------------------------------------


def test_exactly_two_replicas_share_the_single_instance_image_and_hardening() -> None:
    single = compose_service()
    assert len(replicas()) == 2
    for name, replica in replicas().items():
        for key in HARDENING:
            assert replica[key] == single[key], f"{name}: {key} differs from docker-compose.yml"
        context = (FLEET.parent / replica["build"]["context"]).resolve()
        assert context == (COMPOSE.parent / single["build"]["context"]).resolve(), name


def test_replicas_mount_the_same_config_read_only() -> None:
    config = compose_service()["environment"][CONFIG_ENV]
    mounts = set()
    for name, replica in replicas().items():
        assert replica["environment"][CONFIG_ENV] == config, name
        (mount,) = replica["volumes"]
        assert mount.endswith(f":{config}:ro"), f"{name}: {mount}"
        mounts.add(mount)
    assert len(mounts) == 1, "every replica must read the same fusionbridge.toml"
    # Compose resolves paths from the file's directory: the config sits beside docker-compose.yml.
    assert mounts.pop().startswith("../fusionbridge.toml:")
    assert FLEET.parent.parent == COMPOSE.parent


def test_replicas_are_told_apart_by_hostname_and_loopback_port() -> None:
    port = HttpSettings().port
    hostnames, published = set(), set()
    for name, replica in replicas().items():
        assert replica["hostname"], name
        hostnames.add(replica["hostname"])
        (mapping,) = replica["ports"]
        host, outside, inside = mapping.split(":")
        assert (host, inside) == ("127.0.0.1", str(port)), f"{name}: {mapping}"
        published.add(outside)
    assert len(hostnames) == 2, "the lease holder is HOST:PID: replicas need distinct hosts"
    assert len(published) == 2


def test_replicas_start_only_once_the_database_is_healthy() -> None:
    for name, replica in replicas().items():
        assert replica["depends_on"] == {DATABASE: {"condition": "service_healthy"}}, name


def test_replicas_take_the_ledger_url_and_credentials_only_from_secret_files() -> None:
    readable = secret_file_names()
    mounted = []
    for name, replica in replicas().items():
        assert "env_file" not in replica, name
        assert replica["environment"] == {
            CONFIG_ENV: compose_service()["environment"][CONFIG_ENV],
            SECRETS_DIR_ENV: SECRETS_MOUNT,
        }, name
        assert "storage__url" in replica["secrets"], name
        assert set(replica["secrets"]) <= readable, f"{name}: a secret no setting reads"
        mounted.append(replica["secrets"])
    assert mounted[0] == mounted[1], "both replicas serve the same accounts"
    for account in fleet_toml()["accounts"]:
        assert f"accounts__{account['name']}__fusionsolar__system_code" in mounted[0]
    for name, secret in fleet()["secrets"].items():
        assert secret == {"file": f"../secrets/{name}"}, name


def test_no_password_or_secret_setting_is_written_in_the_compose_file() -> None:
    for text in strings(fleet()):
        assert not URL_WITH_PASSWORD.search(text), "a URL with a password"
        assert "PASSWORD=" not in text.upper()
    secret_env = {env_name(path) for path in secret_paths()} | {"POSTGRES_PASSWORD"}
    for name, service in fleet()["services"].items():
        assert not set(service.get("environment", {})) & secret_env, name


@pytest.mark.skipif(shutil.which("docker-compose") is None, reason="docker-compose not installed")
def test_fleet_passes_docker_compose_config() -> None:
    """Compose's own schema check (no daemon needed): `docker-compose -f FILE config`."""
    binary = shutil.which("docker-compose") or "docker-compose"
    command = [binary, "--file", str(FLEET), "config"]
    quiet = subprocess.run(
        [*command, "--quiet"], capture_output=True, text=True, timeout=60, check=False
    )
    assert quiet.returncode == 0, quiet.stderr
    services = subprocess.run(
        [*command, "--services"], capture_output=True, text=True, timeout=60, check=False
    )
    assert services.returncode == 0, services.stderr
    assert set(services.stdout.split()) == set(fleet()["services"])


# --- deploy/fusionbridge.fleet.toml.example ----------------------------------------------------


def model_keys(model: type[BaseModel]) -> set[str]:
    return set(model.model_fields)


def test_fleet_toml_example_holds_two_accounts_in_known_keys_and_no_secret() -> None:
    parsed = fleet_toml()
    assert set(parsed) - {"accounts"} <= model_keys(Settings)
    assert "fusionsolar" not in parsed, "the two forms do not mix"
    assert "inverters" not in parsed, "the two forms do not mix"
    secrets = secret_paths()
    for section, keys in parsed.items():
        if isinstance(keys, dict):
            assert not {(section, key) for key in keys} & secrets, section
    names = [account["name"] for account in parsed["accounts"]]
    assert len(set(names)) == len(names) == 2
    remote_ids = []
    for account in parsed["accounts"]:
        assert ACCOUNT_NAME.fullmatch(account["name"]), account["name"]
        assert set(account) <= {"name", "fusionsolar", "redex", "inverters"}
        assert set(account["fusionsolar"]) <= model_keys(FusionSolarSettings)
        assert account["fusionsolar"]["username"]
        assert not {("fusionsolar", key) for key in account["fusionsolar"]} & secrets
        for inverter in account["inverters"]:
            assert set(inverter) <= model_keys(InverterSettings)
            assert len([key for key in SOURCES if key in inverter]) == 1, inverter
            remote_ids.append(inverter["remote_inv_id"])
    assert len(remote_ids) == len(set(remote_ids)), "remote_inv_id is unique across accounts"


@pytest.mark.skipif(
    "accounts" not in Settings.model_fields,
    reason="[[accounts]] is not in the settings model on this branch yet (SPEC §14)",
)
def test_fleet_toml_example_loads_with_the_secret_files_the_replicas_mount(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The compose file's secret names are the ones the settings read, account by account."""
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    for name in replicas()["fusionbridge-1"]["secrets"]:
        value = "postgresql://fb:pw@postgres:5432/fb" if name == "storage__url" else f"v-{name}"
        (secrets / name).write_text(value + "\n", encoding="utf-8")
    monkeypatch.setenv(SECRETS_DIR_ENV, str(secrets))
    settings = load_settings(FLEET_TOML).model_dump()
    accounts = {account["name"]: account for account in settings["accounts"]}
    assert list(accounts) == ["solar-north", "solar-south"]
    for name, account in accounts.items():
        code = account["fusionsolar"]["system_code"].get_secret_value()
        assert code == f"v-accounts__{name}__fusionsolar__system_code"
    assert settings["storage"]["url"].get_secret_value().startswith("postgresql://")
