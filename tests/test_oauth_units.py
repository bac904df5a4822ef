"""OAuth Connect's pure parts and its ledger row: settings, the wire, redaction, the refusal mark."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import SecretStr

from fusionbridge.clock import VirtualClock
from fusionbridge.errors import ConfigError, TransientError, UpstreamError
from fusionbridge.fusionsolar import oauth_wire
from fusionbridge.fusionsolar.oauth_state import OAuthTokens
from fusionbridge.logs import redact_secrets, scrub_text
from fusionbridge.settings import FusionSolarSettings, load_settings
from fusionbridge.store import Ledger

NOW = datetime(2026, 2, 10, 12, 0, tzinfo=UTC)
OAUTH = FusionSolarSettings(
    auth="oauth",
    client_id="app-1",
    client_secret=SecretStr("client-secret-9"),
    oauth_url="https://oauth.example",
)
REDEX = '[redex]\nbase_url = "https://redex.invalid"\naccess_token = "t"\n'


def problems(tmp_path: Path, fusionsolar: str) -> list[str]:
    config = tmp_path / "fusionbridge.toml"
    config.write_text(f'timezone = "UTC"\n[fusionsolar]\n{fusionsolar}\n{REDEX}')
    with pytest.raises(ConfigError) as raised:
        load_settings(config)
    return raised.value.problems


def test_each_mode_names_every_key_it_lacks(tmp_path: Path) -> None:
    assert problems(tmp_path, 'auth = "oauth"') == [
        'fusionsolar: auth = "oauth" requires client_id, client_secret'
    ]
    assert problems(tmp_path, 'auth = "oauth"\nclient_id = "a"\nclient_secret = " "') == [
        'fusionsolar: auth = "oauth" requires client_secret'
    ]
    assert problems(tmp_path, "") == [
        'fusionsolar: auth = "account" requires username, system_code'
    ]
    assert problems(tmp_path, 'auth = "token"')[0].startswith("fusionsolar.auth: ")


def test_oauth_needs_no_account_and_keeps_hosts_independent(tmp_path: Path) -> None:
    config = tmp_path / "fusionbridge.toml"
    config.write_text(
        'timezone = "UTC"\n[fusionsolar]\nauth = "oauth"\nclient_id = "a"\n'
        'client_secret = "s"\nbase_url = "https://api.successor.example"\n' + REDEX
    )
    fs = load_settings(config).fusionsolar_settings()
    assert fs.base_url == "https://api.successor.example"
    assert fs.oauth_url == "https://oauth2.fusionsolar.huawei.com"
    assert fs.redirect_uri == "http://127.0.0.1:8765/callback"
    assert fs.scope == "pvms.openapi.basic"
    assert "'s'" not in repr(fs)


def test_redirect_uri_must_be_an_absolute_http_address(tmp_path: Path) -> None:
    found = problems(
        tmp_path, 'auth = "oauth"\nclient_id = "a"\nclient_secret = "s"\nredirect_uri = "/cb"'
    )
    assert found == [
        "fusionsolar.redirect_uri: must be an absolute http(s) address such as "
        "http://127.0.0.1:8765/callback"
    ]


def test_authorize_url_carries_every_parameter() -> None:
    url = oauth_wire.authorize_url(OAUTH, "st-1")
    assert url == (
        "https://oauth.example/rest/dp/uidm/oauth2/v1/authorize?response_type=code"
        "&client_id=app-1&redirect_uri=http%3A%2F%2F127.0.0.1%3A8765%2Fcallback"
        "&scope=pvms.openapi.basic&state=st-1"
    )


OLD_REFRESH = SecretStr("old-refresh")


def parse(status: int, body: object, previous: SecretStr = OLD_REFRESH) -> OAuthTokens:
    form = oauth_wire.refresh_form(OAUTH, previous)
    text = body if isinstance(body, str) else json.dumps(body)
    return oauth_wire.parse_token_answer(
        status, text, form, now=NOW, client_id="app-1", scope="s", previous_refresh=previous
    )


def test_a_token_answer_becomes_tokens_and_keeps_an_unrotated_refresh_token() -> None:
    tokens = parse(200, {"access_token": "a-1", "expires_in": 3600, "token_type": "Bearer"})
    assert tokens.access_token.get_secret_value() == "a-1"
    assert tokens.refresh_token.get_secret_value() == "old-refresh"
    assert tokens.expires_at == NOW + timedelta(hours=1)
    assert "a-1" not in repr(tokens)
    assert "old-refresh" not in repr(tokens)
    rotated = parse(200, {"access_token": "a", "refresh_token": "new", "expires_in": "60"})
    assert rotated.refresh_token.get_secret_value() == "new"


@pytest.mark.parametrize(
    ("status", "body", "error"),
    [
        (400, {"error": "invalid_grant", "error_description": "gone"}, oauth_wire.TokenRefused),
        (401, {"error": "invalid_client"}, oauth_wire.TokenRefused),
        (401, "<html>denied</html>", oauth_wire.TokenRefused),
        (200, {"error": "invalid_grant"}, oauth_wire.TokenRefused),
        (502, "<html>bad gateway</html>", TransientError),
        (200, "<html>maintenance</html>", TransientError),
        (429, {"message": "slow down"}, TransientError),
        (200, {"access_token": "a", "expires_in": 1, "token_type": "mac"}, UpstreamError),
        (200, {"access_token": "a"}, UpstreamError),
    ],
)
def test_token_answers_that_give_no_tokens(status: int, body: object, error: type) -> None:
    with pytest.raises(error):
        parse(status, body)


def test_a_refusal_never_quotes_a_secret_it_was_sent() -> None:
    body = {"error": "invalid_grant", "error_description": "refresh old-refresh is revoked"}
    with pytest.raises(oauth_wire.TokenRefused) as raised:
        parse(400, body)
    assert "old-refresh" not in str(raised.value)
    assert "client-secret-9" not in repr(oauth_wire.refresh_form(OAUTH, SecretStr("x")))


def test_logs_mask_bearer_tokens_and_oauth_values_in_free_text() -> None:
    text = "GET /x Authorization: Bearer abc.def-1 body refresh_token=r-9&client_secret=s-1"
    assert scrub_text(text) == (
        "GET /x Authorization: Bearer *** body refresh_token=***&client_secret=***"
    )
    assert scrub_text("http://h/cb?code=c-1&state=s") == "http://h/cb?code=***&state=s"
    assert scrub_text("failCode 20056, error code: 401") == "failCode 20056, error code: 401"
    event = redact_secrets(
        None, "info", {"event": "x", "error": "Bearer t-1", "nested": {"access_token": "t-2"}}
    )
    assert "t-1" not in json.dumps(event)
    assert "t-2" not in json.dumps(event)


async def test_a_refusal_is_only_marked_on_the_tokens_it_refused(
    ledger_target: Path | str,
) -> None:
    clock = VirtualClock(NOW)
    first = parse(200, {"access_token": "a-1", "refresh_token": "r-1", "expires_in": 60})
    rotated = parse(200, {"access_token": "a-2", "refresh_token": "r-2", "expires_in": 60})
    async with Ledger.open(ledger_target, clock) as ledger:
        assert await ledger.oauth.load_oauth() is None
        await ledger.oauth.save_oauth(first)
        await ledger.oauth.save_oauth(rotated)  # another process rotated meanwhile
        assert not await ledger.oauth.refuse_oauth(first.refresh_token, NOW, "invalid_grant")
        stored = await ledger.oauth.load_oauth()
        assert stored is not None
        assert not stored.refused
        assert await ledger.oauth.refuse_oauth(rotated.refresh_token, NOW, "invalid_grant")
    async with Ledger.open(ledger_target, clock) as ledger:  # it survives a restart
        stored = await ledger.oauth.load_oauth()
        assert stored is not None
        assert stored.refused
        assert stored.refused_reason == "invalid_grant"
        assert stored.access_token.get_secret_value() == "a-2"
