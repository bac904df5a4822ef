"""Many accounts (SPEC §14): the `[[accounts]]` form, its views, its secrets and its error lines."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from fusionbridge.errors import ConfigError
from fusionbridge.settings import DEFAULT_ACCOUNT, load_settings

REPO = Path(__file__).resolve().parent.parent

SHARED_REDEX = """
[redex]
base_url = "https://redex.example"
client_id = "shared-client"
client_secret = "shared-client-secret"
api_key = "shared-api-key"
"""

NORTH = """
[[accounts]]
name = "solar-north"
[accounts.fusionsolar]
username = "north-api"
system_code = "north-system-code"
[accounts.redex]
base_url = "https://redex.example"
access_token = "north-token"
[[accounts.inverters]]
remote_inv_id = "N-1"
device_id = 1001
[[accounts.inverters]]
remote_inv_id = "N-2"
plant_code = "NE=1"
"""

SOUTH = """
[[accounts]]
name = "solar-south"
[accounts.fusionsolar]
username = "south-api"
system_code = "south-system-code"
[[accounts.inverters]]
remote_inv_id = "S-1"
esn = "ES123"
"""

EAST = """
[[accounts]]
name = "east-2"
[accounts.fusionsolar]
auth = "oauth"
client_id = "east-app"
client_secret = "east-client-secret"
"""

WEST = """
[[accounts]]
name = "west"
[accounts.fusionsolar]
username = "west-api"
system_code = "west-system-code"
"""

THREE = 'timezone = "Europe/Amsterdam"\n' + SHARED_REDEX + NORTH + SOUTH + EAST

PART_ONE = (
    """timezone = "Europe/Amsterdam"
[fusionsolar]
username = "api-user"
system_code = "part-one-code"
[[inverters]]
remote_inv_id = "A"
esn = "ES1"
"""
    + SHARED_REDEX
)

SECRETS = (
    "shared-client-secret",
    "shared-api-key",
    "north-token",
    "north-system-code",
    "south-system-code",
    "east-client-secret",
    "part-one-code",
    "west-system-code",
)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "fusionbridge.toml"
    path.write_text(text, encoding="utf-8")
    return path


def problems(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    for line in caught.value.problems:
        for secret in SECRETS:
            assert secret not in line
    return caught.value.problems


def strip_secret(text: str, key: str) -> str:
    """The config without any line setting `key`, so a secret must come from elsewhere."""
    return "\n".join(line for line in text.splitlines() if not line.startswith(f"{key} ="))


@pytest.fixture(autouse=True)
def clean_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No stray FUSIONBRIDGE_* variable or .env file reaches these tests."""
    for name in list(os.environ):
        if name.startswith("FUSIONBRIDGE_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


# --- the form and its views --------------------------------------------------------------------


def test_three_accounts_keep_their_order_and_their_own_sections(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, THREE))

    assert settings.account_names() == ["solar-north", "solar-south", "east-2"]
    assert (settings.fusionsolar, settings.inverters, settings.account) == (None, [], "default")
    assert [i.remote_inv_id for i in settings.all_inverters()] == ["N-1", "N-2", "S-1"]

    north = settings.for_account("solar-north")
    assert north.account == "solar-north"
    assert north.accounts == []
    assert north.account_names() == ["solar-north"]
    assert north.fusionsolar_settings().username == "north-api"
    assert north.redex_settings().access_token.get_secret_value() == "north-token"
    assert [e.remote_inv_id for e in north.inverter_entries()] == ["N-1", "N-2"]
    assert north.all_inverters() == north.inverters
    assert north.for_account("solar-north") is north
    assert north.timezone == settings.timezone
    assert north.schedule == settings.schedule

    south = settings.for_account("solar-south")
    assert south.fusionsolar_settings().username == "south-api"
    assert south.redex_settings() == settings.redex  # the shared top-level [redex]
    assert [e.remote_inv_id for e in south.inverter_entries()] == ["S-1"]

    east = settings.for_account("east-2")
    assert east.fusionsolar_settings().auth == "oauth"
    assert east.redex_settings() == settings.redex
    assert east.inverter_entries() == []


def test_part_one_form_is_one_account_named_default(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, PART_ONE))

    assert settings.account_names() == [DEFAULT_ACCOUNT] == ["default"]
    assert settings.for_account("default") == settings
    assert settings.all_inverters() == settings.inverters
    assert [e.remote_inv_id for e in settings.inverter_entries()] == ["A"]
    assert settings.fusionsolar_settings().username == "api-user"
    assert settings.redex_settings().client_id == "shared-client"


def test_an_unknown_account_is_one_line_naming_the_configured_ones(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(write(tmp_path, THREE)).for_account("solar-west")
    assert caught.value.problems == [
        "--account: no account named 'solar-west' (configured: solar-north, solar-south, east-2)"
    ]
    with pytest.raises(ConfigError) as caught:
        load_settings(write(tmp_path, PART_ONE)).for_account("solar-north")
    assert caught.value.problems == [
        "--account: no account named 'solar-north' (configured: default)"
    ]


def test_the_whole_configuration_has_no_single_fusionsolar(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, THREE))
    with pytest.raises(ConfigError) as caught:
        settings.fusionsolar_settings()
    assert caught.value.problems[0].startswith("fusionsolar: ")


def test_redex_key_is_equal_exactly_when_the_credentials_are(tmp_path: Path) -> None:
    own_copy_of_shared = NORTH.replace(
        'access_token = "north-token"',
        'client_id = "shared-client"\nclient_secret = "shared-client-secret"\n'
        'api_key = "shared-api-key"\nrate_limit = 3',
    )
    other_key = own_copy_of_shared.replace("shared-api-key", "another-api-key")
    other_host = own_copy_of_shared.replace("https://redex.example", "https://uat.redex.example")
    keys: dict[str, str] = {}
    for label, north in [
        ("copy", own_copy_of_shared),
        ("key", other_key),
        ("host", other_host),
        ("token", NORTH),
    ]:
        config = 'timezone = "UTC"\n' + SHARED_REDEX + north + SOUTH + EAST
        settings = load_settings(write(tmp_path, config))
        keys[label] = settings.for_account("solar-north").redex_key()
        south_key = settings.for_account("solar-south").redex_key()
        assert settings.for_account("east-2").redex_key() == south_key  # both use [redex]
        assert settings.redex_key() == south_key
        for secret in (*SECRETS, "another-api-key"):
            assert secret not in keys[label]
        assert re.fullmatch(r"[0-9a-f]{64}", keys[label])
        if label == "copy":  # same business account, a different limit setting: one limiter
            assert keys[label] == south_key
        else:
            assert keys[label] != south_key
    assert len(set(keys.values())) == 4


# --- errors ------------------------------------------------------------------------------------


def test_neither_form_names_fusionsolar_and_redex(tmp_path: Path) -> None:
    found = problems(write(tmp_path, 'timezone = "UTC"\n'))
    assert found == ["fusionsolar: required", "redex: required"]


def test_part_one_without_redex_still_requires_it(tmp_path: Path) -> None:
    found = problems(write(tmp_path, PART_ONE.split("[redex]")[0]))
    assert found == ["redex: required"]


def test_mixing_the_forms_is_named(tmp_path: Path) -> None:
    mixed = PART_ONE + NORTH
    assert problems(write(tmp_path, mixed)) == [
        "accounts: cannot be used together with the top-level [fusionsolar] / [[inverters]] "
        "(use one form: move them into an [[accounts]] entry)"
    ]
    only_inverters = THREE + '[[inverters]]\nremote_inv_id = "X"\nesn = "E"\n'
    assert problems(write(tmp_path, only_inverters)) == [
        "accounts: cannot be used together with the top-level [[inverters]] "
        "(use one form: move them into an [[accounts]] entry)"
    ]


def test_a_name_used_twice_points_at_the_second(tmp_path: Path) -> None:
    twice = THREE + SOUTH.replace("S-1", "S-2").replace("south-api", "other-api")
    assert problems(write(tmp_path, twice)) == [
        "accounts.3.name: 'solar-south' is used by accounts.1 too"
    ]


def test_a_remote_inverter_is_unique_across_and_within_accounts(tmp_path: Path) -> None:
    across = THREE.replace('remote_inv_id = "S-1"', 'remote_inv_id = "N-2"')
    assert problems(write(tmp_path, across)) == [
        "accounts.1.inverters.0.remote_inv_id: 'N-2' is used twice (also accounts.0.inverters.1)"
    ]
    within = THREE.replace('remote_inv_id = "N-2"', 'remote_inv_id = "N-1"')
    assert problems(write(tmp_path, within)) == [
        "accounts.0.inverters.1.remote_inv_id: 'N-1' is used twice (also accounts.0.inverters.0)"
    ]


def test_an_account_without_redex_needs_the_top_level_one(tmp_path: Path) -> None:
    no_shared = 'timezone = "UTC"\n' + NORTH + SOUTH + EAST
    assert problems(write(tmp_path, no_shared)) == [
        "accounts.1.redex: required (no top-level [redex] to fall back on)",
        "accounts.2.redex: required (no top-level [redex] to fall back on)",
    ]


def test_form_errors_are_listed_beside_field_errors(tmp_path: Path) -> None:
    text = 'timezone = "Mars/Olympus"\n' + NORTH + SOUTH.replace("solar-south", "Solar South")
    found = problems(write(tmp_path, text))
    assert found == [
        "timezone: unknown time zone 'Mars/Olympus' (use an IANA name)",
        "accounts.1.name: must be 1 to 40 characters of a-z, 0-9 and -, e.g. solar-north",
        "accounts.1.redex: required (no top-level [redex] to fall back on)",
    ]


@pytest.mark.parametrize(
    ("name", "valid"),
    [("a", True), ("x" * 40, True), ("x" * 41, False), ("", False), ("a_b", False), ("A", False)],
)
def test_account_names_are_short_slugs(tmp_path: Path, name: str, valid: bool) -> None:
    path = write(tmp_path, THREE.replace('"east-2"', f'"{name}"'))
    if valid:
        assert load_settings(path).account_names()[-1] == name
    else:
        assert problems(path) == [
            "accounts.2.name: must be 1 to 40 characters of a-z, 0-9 and -, e.g. solar-north"
        ]


def test_account_is_not_a_setting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    line = "account: not a setting: an account is chosen with --account"
    assert problems(write(tmp_path, 'account = "solar-north"\n' + THREE)) == [line]
    monkeypatch.setenv("FUSIONBRIDGE_ACCOUNT", "solar-north")
    assert problems(write(tmp_path, THREE)) == [line]


# --- secrets per account -----------------------------------------------------------------------


def test_account_secrets_come_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path, strip_secret(strip_secret(THREE, "system_code"), "access_token"))
    monkeypatch.setenv("FUSIONBRIDGE_ACCOUNTS__SOLAR_NORTH__FUSIONSOLAR__SYSTEM_CODE", "n-env")
    monkeypatch.setenv("FUSIONBRIDGE_ACCOUNTS__SOLAR_NORTH__REDEX__ACCESS_TOKEN", "nt-env")
    monkeypatch.setenv("fusionbridge_accounts__solar_south__fusionsolar__system_code", "s-env")
    monkeypatch.setenv("FUSIONBRIDGE_ACCOUNTS__EAST_2__FUSIONSOLAR__CLIENT_SECRET", "e-env")
    monkeypatch.setenv("FUSIONBRIDGE_ACCOUNTS__EAST_2__FUSIONSOLAR__SCOPE", "pvms.openapi.other")

    settings = load_settings(path)

    north, south, east = (settings.for_account(n) for n in settings.account_names())
    assert north.fusionsolar_settings().system_code.get_secret_value() == "n-env"
    assert north.redex_settings().access_token.get_secret_value() == "nt-env"
    assert south.fusionsolar_settings().system_code.get_secret_value() == "s-env"
    assert east.fusionsolar_settings().client_secret.get_secret_value() == "e-env"
    assert east.fusionsolar_settings().scope == "pvms.openapi.other"  # any key, not only secrets
    assert east.fusionsolar_settings().client_id == "east-app"  # the file's keys stay


def test_account_secrets_come_from_the_secrets_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path, strip_secret(THREE, "system_code"))
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "accounts__solar-north__fusionsolar__system_code").write_text("n-file")
    (secrets / "accounts__solar-south__fusionsolar__system_code").write_text("s-file")
    (secrets / "accounts__solar-north__redex__access_token").write_text("nt-file")
    (secrets / "redex__api_key").write_text("shared-from-file")
    monkeypatch.setenv("FUSIONBRIDGE_SECRETS_DIR", str(secrets))

    settings = load_settings(path)

    north, south = settings.for_account("solar-north"), settings.for_account("solar-south")
    assert north.fusionsolar_settings().system_code.get_secret_value() == "n-file"
    assert north.redex_settings().access_token.get_secret_value() == "nt-file"  # over the TOML
    assert south.fusionsolar_settings().system_code.get_secret_value() == "s-file"
    assert south.redex_settings().api_key.get_secret_value() == "shared-from-file"


def test_a_redex_key_alone_starts_an_own_redex_section(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FUSIONBRIDGE_ACCOUNTS__SOLAR_SOUTH__REDEX__API_KEY", "south-own-key")
    assert problems(write(tmp_path, THREE)) == ["accounts.1.redex.base_url: required"]
    monkeypatch.setenv("FUSIONBRIDGE_ACCOUNTS__SOLAR_SOUTH__REDEX__BASE_URL", "https://r.example")
    monkeypatch.setenv("FUSIONBRIDGE_ACCOUNTS__SOLAR_SOUTH__REDEX__ACCESS_TOKEN", "south-token")
    south = load_settings(write(tmp_path, THREE)).for_account("solar-south")
    assert south.redex_settings().base_url == "https://r.example"


def test_priority_env_over_dotenv_over_secrets_over_toml(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path, THREE + WEST)
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    for account in ("solar-north", "solar-south", "east-2"):
        (secrets / f"accounts__{account}__fusionsolar__username").write_text("from-secrets")
    (tmp_path / ".env").write_text(
        "FUSIONBRIDGE_ACCOUNTS__SOLAR_NORTH__FUSIONSOLAR__USERNAME=from-dotenv\n"
        "FUSIONBRIDGE_ACCOUNTS__SOLAR_SOUTH__FUSIONSOLAR__USERNAME=from-dotenv\n"
    )
    monkeypatch.setenv("FUSIONBRIDGE_SECRETS_DIR", str(secrets))
    monkeypatch.setenv("FUSIONBRIDGE_ACCOUNTS__SOLAR_NORTH__FUSIONSOLAR__USERNAME", "from-env")

    settings = load_settings(path)

    views = [settings.for_account(name) for name in settings.account_names()]
    usernames = [view.fusionsolar_settings().username for view in views]
    assert usernames == ["from-env", "from-dotenv", "from-secrets", "west-api"]


def test_keys_for_no_account_are_named_without_their_values(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "accounts__solar_north__fusionsolar__system_code").write_text("file-secret-1")
    (tmp_path / ".env").write_text(
        "FUSIONBRIDGE_ACCOUNTS__SOLAR_WEST__REDEX__API_KEY=dotenv-secret-2\n"
    )
    monkeypatch.setenv("FUSIONBRIDGE_SECRETS_DIR", str(secrets))
    monkeypatch.setenv("FUSIONBRIDGE_ACCOUNTS__SOLAR_NORTH__FUSIONSOLAR__SYSTEMCODE", "env-3")
    monkeypatch.setenv("FUSIONBRIDGE_ACCOUNTS__SOLAR_NORTH__INVERTERS__ESN", "env-4")
    monkeypatch.setenv("FUSIONBRIDGE_ACCOUNTS", "env-secret-5")
    configured = "(configured: solar-north, solar-south, east-2)"
    spelt = "(an account's key is spelt FUSIONBRIDGE_ACCOUNTS__<NAME>__FUSIONSOLAR|REDEX__<KEY>)"

    found = problems(write(tmp_path, THREE))

    assert found == [
        "accounts__solar_north__fusionsolar__system_code: names no configured account "
        f"{configured} (a file in the secrets directory)",
        f"FUSIONBRIDGE_ACCOUNTS__SOLAR_WEST__REDEX__API_KEY: names no configured account "
        f"{configured} (in .env)",
        "FUSIONBRIDGE_ACCOUNTS: accounts are listed in the TOML file only; set their keys as "
        "FUSIONBRIDGE_ACCOUNTS__<NAME>__FUSIONSOLAR|REDEX__<KEY>",
        f"FUSIONBRIDGE_ACCOUNTS__SOLAR_NORTH__FUSIONSOLAR__SYSTEMCODE: unknown setting {spelt}",
        f"FUSIONBRIDGE_ACCOUNTS__SOLAR_NORTH__INVERTERS__ESN: unknown setting {spelt}",
    ]
    for line in found:
        assert not re.search(r"env-\d|secret-\d", line)


def test_account_keys_without_accounts_say_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FUSIONBRIDGE_ACCOUNTS__SOLAR_NORTH__FUSIONSOLAR__SYSTEM_CODE", "x-secret")
    assert problems(write(tmp_path, PART_ONE)) == [
        "FUSIONBRIDGE_ACCOUNTS__SOLAR_NORTH__FUSIONSOLAR__SYSTEM_CODE: names no configured "
        "account (configured: no [[accounts]] at all)"
    ]


# --- through the real command line -------------------------------------------------------------


def fusionbridge(tmp_path: Path, *argv: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("FUSIONBRIDGE_")}
    return subprocess.run(
        [sys.executable, "-m", "fusionbridge", *argv],
        cwd=tmp_path,
        env={**clean, "PYTHONPATH": str(REPO), **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    ("text", "env", "lines"),
    [
        (
            PART_ONE + NORTH,
            {},
            [
                "accounts: cannot be used together with the top-level [fusionsolar] / "
                "[[inverters]] (use one form: move them into an [[accounts]] entry)"
            ],
        ),
        (
            THREE.replace('remote_inv_id = "S-1"', 'remote_inv_id = "N-1"')
            + SOUTH.replace("S-1", "S-2"),
            {},
            [
                "accounts.3.name: 'solar-south' is used by accounts.1 too",
                "accounts.1.inverters.0.remote_inv_id: 'N-1' is used twice "
                "(also accounts.0.inverters.0)",
            ],
        ),
        (
            'timezone = "UTC"\n' + NORTH + SOUTH,
            {"FUSIONBRIDGE_ACCOUNTS__SOLAR_SOUTH__FUSIONSOLAR__SYSTEM_CODE": "env-secret-code"},
            ["accounts.1.redex: required (no top-level [redex] to fall back on)"],
        ),
        (
            THREE,
            {"FUSIONBRIDGE_ACCOUNTS__SOLAR_WEST__FUSIONSOLAR__SYSTEM_CODE": "env-secret-code"},
            [
                "FUSIONBRIDGE_ACCOUNTS__SOLAR_WEST__FUSIONSOLAR__SYSTEM_CODE: names no "
                "configured account (configured: solar-north, solar-south, east-2)"
            ],
        ),
    ],
)
def test_cli_reports_account_errors_as_exit_78_lines(
    tmp_path: Path, text: str, env: dict[str, str], lines: list[str]
) -> None:
    config = write(tmp_path, text)

    result = fusionbridge(tmp_path, "--config", str(config), "check", **env)

    assert result.returncode == 78, result.stderr
    assert result.stderr.splitlines() == [f"fusionbridge: config: {line}" for line in lines]
    for secret in (*SECRETS, "env-secret-code"):
        assert secret not in result.stderr + result.stdout


# --- the deploy example ------------------------------------------------------------------------

TOML_EXAMPLE = REPO / "deploy" / "fusionbridge.toml.example"
ACCOUNTS_MARKER = "# --- Many FusionSolar accounts"


def accounts_form_of_the_example() -> str:
    """The example with its commented [[accounts]] block in place of [fusionsolar] and [[inverters]]."""
    kept, table, in_block = [], "", False
    for line in TOML_EXAMPLE.read_text(encoding="utf-8").splitlines():
        in_block = in_block or line.startswith(ACCOUNTS_MARKER)
        if in_block:
            kept.append(line.removeprefix("# ") if line.startswith("# [") or "=" in line else "")
            continue
        if re.match(r"^\[\[?[a-z_.]+\]\]?$", line):
            table = line
        if table not in ("[fusionsolar]", "[[inverters]]"):
            kept.append(line)
    return "\n".join(kept) + "\n"


def test_the_examples_accounts_block_is_a_valid_configuration(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env_example = (REPO / ".env.example").read_text(encoding="utf-8")
    documented = set(re.findall(r"FUSIONBRIDGE_ACCOUNTS__SOLAR_NORTH__\w+", env_example))
    assert len(documented) == 3  # SYSTEM_CODE, CLIENT_SECRET, REDEX__CLIENT_SECRET
    for name in (
        *documented,
        "FUSIONBRIDGE_REDEX__CLIENT_SECRET",
        "FUSIONBRIDGE_REDEX__API_KEY",
        "FUSIONBRIDGE_ACCOUNTS__SOLAR_NORTH__REDEX__API_KEY",
        "FUSIONBRIDGE_ACCOUNTS__SOLAR_SOUTH__FUSIONSOLAR__CLIENT_SECRET",
    ):
        monkeypatch.setenv(name, "from-environment")
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    secret_file = re.search(r"accounts__solar-north__\w+", env_example)
    assert secret_file is not None
    (secrets / secret_file[0]).write_text("from-a-file")
    monkeypatch.setenv("FUSIONBRIDGE_SECRETS_DIR", str(secrets))

    settings = load_settings(write(tmp_path, accounts_form_of_the_example()))

    assert settings.account_names() == ["solar-north", "solar-south"]
    north, south = (settings.for_account(name) for name in settings.account_names())
    assert north.redex_settings().client_id == "north-client-id"
    assert north.fusionsolar_settings().system_code.get_secret_value() == "from-environment"
    assert south.redex_settings() == settings.redex
    assert south.fusionsolar_settings().auth == "oauth"
    assert {i.entry().describe().split()[0] for i in settings.all_inverters()} == {
        "device_id",
        "esn",
    }
