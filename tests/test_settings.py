"""Configuration: sources, priorities and error lines that never show a secret."""

from __future__ import annotations

from datetime import time
from pathlib import Path

import pytest

from fusionbridge.cli.main import main
from fusionbridge.core.models import Month
from fusionbridge.errors import ConfigError
from fusionbridge.settings import load_settings

BASE = """
timezone = "Europe/Amsterdam"
[fusionsolar]
username = "api-user"
system_code = "toml-secret-code"
[redex]
base_url = "https://uat-api.redex.eco/"
client_id = "cid"
client_secret = "toml-client-secret"
api_key = "toml-api-key"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "fusionbridge.toml"
    path.write_text(text)
    return path


def problems(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    return caught.value.problems


def test_minimal_file_gets_spec_defaults(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, BASE))
    assert settings.fusionsolar_settings().base_url == "https://eu5.fusionsolar.huawei.com"
    assert settings.fusionsolar_settings().min_interval_s == 65
    redex = settings.redex_settings()
    assert redex.base_url == "https://uat-api.redex.eco"
    assert (redex.rate_limit, redex.rate_period_s, redex.batch_size) == (5, 5, 100)
    assert settings.schedule.sync_at == time(6, 30)
    assert settings.schedule.push_day == 3
    assert settings.http.port == 8080
    assert settings.inverters == []


def test_default_file_is_found_in_working_directory(tmp_path: Path) -> None:
    write(tmp_path, BASE)
    assert load_settings().fusionsolar_settings().username == "api-user"


def test_priority_env_over_dotenv_over_secrets_over_toml(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path, BASE)
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "fusionsolar__system_code").write_text("from-secrets")
    (secrets / "redex__api_key").write_text("key-from-secrets")
    (secrets / "redex__client_id").write_text("cid-from-secrets")
    (tmp_path / ".env").write_text(
        "FUSIONBRIDGE_REDEX__CLIENT_ID=cid-from-dotenv\nFUSIONBRIDGE_HTTP__PORT=9000\n"
    )
    monkeypatch.setenv("FUSIONBRIDGE_SECRETS_DIR", str(secrets))
    monkeypatch.setenv("FUSIONBRIDGE_HTTP__PORT", "9100")
    settings = load_settings(path)
    assert settings.fusionsolar_settings().system_code.get_secret_value() == "from-secrets"
    assert settings.redex_settings().api_key.get_secret_value() == "key-from-secrets"
    assert settings.redex_settings().client_id == "cid-from-dotenv"
    assert settings.http.port == 9100


def test_config_path_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    other = tmp_path / "elsewhere.toml"
    other.write_text(BASE.replace("api-user", "env-located"))
    monkeypatch.setenv("FUSIONBRIDGE_CONFIG", str(other))
    assert load_settings().fusionsolar_settings().username == "env-located"


def test_every_problem_is_listed_with_a_dotted_location(tmp_path: Path) -> None:
    text = (
        BASE
        + """
[schedule]
sync_at = "6h30"
push_day = 30
surprise = 1
[[inverters]]
remote_inv_id = "A"
esn = "ES1"
[[inverters]]
remote_inv_id = "B"
esn = "ES2"
plant_code = "NE=1"
[[inverters]]
remote_inv_id = "C"
device_id = 5
timezone = "Mars/Olympus"
start_month = "2024-13"
"""
    )
    found = problems(write(tmp_path, text))
    assert "schedule.sync_at: must be a 24-hour time HH:MM, e.g. 06:30" in found
    assert any(p.startswith("schedule.push_day: ") for p in found)
    assert "schedule.surprise: unknown key" in found
    assert any(p.startswith("inverters.1: has two sources (esn, plant_code)") for p in found)
    assert any(p.startswith("inverters.2.timezone: unknown time zone") for p in found)
    assert any(p.startswith("inverters.2.start_month: ") for p in found)


def test_duplicate_remote_ids_and_missing_redex_credentials(tmp_path: Path) -> None:
    text = (
        BASE.replace('client_id = "cid"\n', "")
        + """
[[inverters]]
remote_inv_id = "A"
esn = "ES1"
[[inverters]]
remote_inv_id = "A"
device_id = 1
"""
    )
    found = problems(write(tmp_path, text))
    assert any("appears twice" in p for p in found)
    assert "redex: api_key grant is incomplete: set client_id" in found


def test_missing_required_values_are_named(tmp_path: Path) -> None:
    found = problems(write(tmp_path, "[fusionsolar]\nusername = 'u'\n"))
    assert "timezone: required" in found
    assert 'fusionsolar: auth = "account" requires system_code' in found
    assert "redex: required" in found


def test_start_month_parses(tmp_path: Path) -> None:
    text = (
        BASE + '[[inverters]]\nremote_inv_id = "A"\nplant_code = "NE=1"\nstart_month = "2024-02"\n'
    )
    inverter = load_settings(write(tmp_path, text)).inverters[0]
    assert inverter.start_month == Month(2024, 2)
    source = inverter.entry().plant_source()
    assert source is not None
    assert source.metric == "inverter_power"


def test_cli_config_error_exits_78_without_secrets(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(
        tmp_path, BASE.replace('timezone = "Europe/Amsterdam"', 'timezone = "Nowhere/Land"')
    )
    assert main(["--config", str(path), "status"]) == 78
    err = capsys.readouterr().err
    assert "timezone: unknown time zone" in err
    for secret in ("toml-secret-code", "toml-client-secret", "toml-api-key"):
        assert secret not in err
    assert "Traceback" not in err


def test_cli_missing_file_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--config", str(tmp_path / "nope.toml"), "status"]) == 78
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert "does not exist" in err[0]
