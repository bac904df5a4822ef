"""OAuth Connect on the wire, pure: the authorization address, token forms, token answers.

Paths and fields follow the public clients of Huawei's OAuth Connect (SPEC §12); nothing here
does I/O or reads a clock. Errors never quote a token: the forms' secrets are masked out of any
text taken from an answer.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlencode

from pydantic import SecretStr

from fusionbridge.errors import TransientError, UnexpectedResponseError, UpstreamError
from fusionbridge.fusionsolar.oauth_state import OAuthTokens
from fusionbridge.settings import FusionSolarSettings

AUTHORIZE_PATH = "/rest/dp/uidm/oauth2/v1/authorize"
GRANT_PATH = "/rest/dp/uidm/oauth2/v1/token"
_MASK = "***"


class TokenRefused(UpstreamError):
    """The token endpoint refused the grant (HTTP 400/401 or an `error` answer): not retryable."""

    api = "fusionsolar"

    def __init__(self, error: str, description: str) -> None:
        self.error, self.description = error, description
        super().__init__(f"{error}: {description}" if description else error)


@dataclass(frozen=True, slots=True)
class Form:
    """A form to POST to the token endpoint; its repr shows the grant type only."""

    fields: Mapping[str, str]

    def __repr__(self) -> str:
        return f"Form(grant_type={self.fields.get('grant_type')!r})"

    def secrets(self) -> list[str]:
        return [v for k, v in self.fields.items() if k not in ("grant_type", "client_id") and v]


def authorize_url(settings: FusionSolarSettings, state: str) -> str:
    """The address the owner opens to approve fusionbridge."""
    query = urlencode(
        {
            "response_type": "code",
            "client_id": settings.client_id,
            "redirect_uri": settings.redirect_uri,
            "scope": settings.scope,
            "state": state,
        }
    )
    return f"{settings.oauth_url}{AUTHORIZE_PATH}?{query}"


def token_url(settings: FusionSolarSettings) -> str:
    return f"{settings.oauth_url}{GRANT_PATH}"


def code_form(settings: FusionSolarSettings, code: SecretStr) -> Form:
    return Form(
        {
            "grant_type": "authorization_code",
            "code": code.get_secret_value(),
            "client_id": settings.client_id,
            "client_secret": settings.client_secret.get_secret_value(),
            "redirect_uri": settings.redirect_uri,
        }
    )


def refresh_form(settings: FusionSolarSettings, refresh_token: SecretStr) -> Form:
    return Form(
        {
            "grant_type": "refresh_token",
            "refresh_token": refresh_token.get_secret_value(),
            "client_id": settings.client_id,
            "client_secret": settings.client_secret.get_secret_value(),
        }
    )


def masked(text: str, secrets: Iterable[str]) -> str:
    """`text` cut to 200 characters with every secret replaced, for errors and logs."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, _MASK)
    return text.strip()[:200]


def parse_token_answer(
    status: int,
    text: str,
    form: Form,
    *,
    now: datetime,
    client_id: str,
    scope: str,
    previous_refresh: SecretStr | None = None,
) -> OAuthTokens:
    """Tokens from a token-endpoint answer; TokenRefused, TransientError or UpstreamError if none."""
    hide = [*form.secrets(), *([previous_refresh.get_secret_value()] if previous_refresh else [])]
    if status >= 500:
        raise UnexpectedResponseError(f"FusionSolar token endpoint answered HTTP {status}")
    try:
        payload = json.loads(text) if text.strip() else None
    except ValueError:
        payload = None
    if not isinstance(payload, dict):
        if status in (400, 401):
            raise TokenRefused(f"HTTP {status}", masked(text, hide))
        raise UnexpectedResponseError(
            f"FusionSolar token endpoint answered HTTP {status} without JSON", masked(text, hide)
        )
    error = payload.get("error")
    if status in (400, 401) or (error and not payload.get("access_token")):
        description = payload.get("error_description") or ""
        raise TokenRefused(str(error or f"HTTP {status}"), masked(str(description), hide))
    if status != 200:
        raise TransientError(f"FusionSolar token endpoint answered HTTP {status}")
    return _tokens(payload, now, client_id, scope, previous_refresh)


def _tokens(
    payload: Mapping[str, object],
    now: datetime,
    client_id: str,
    scope: str,
    previous_refresh: SecretStr | None,
) -> OAuthTokens:
    access, refresh = payload.get("access_token"), payload.get("refresh_token")
    token_type = str(payload.get("token_type") or "Bearer")
    if not isinstance(access, str) or not access:
        raise UpstreamError("FusionSolar token endpoint answered without an access_token")
    if token_type.lower() != "bearer":
        raise UpstreamError(f"FusionSolar issued a {token_type!r} token, not a Bearer token")
    if isinstance(refresh, str) and refresh:
        refresh_token = SecretStr(refresh)
    elif previous_refresh is not None:
        refresh_token = previous_refresh  # no rotation: the old refresh token stays valid
    else:
        raise UpstreamError("FusionSolar token endpoint answered without a refresh_token")
    try:
        lifetime = float(str(payload.get("expires_in", "")))
    except ValueError:
        raise UpstreamError("FusionSolar token endpoint answered without expires_in") from None
    return OAuthTokens(
        client_id=client_id,
        access_token=SecretStr(access),
        refresh_token=refresh_token,
        expires_at=now + timedelta(seconds=lifetime),
        scope=str(payload.get("scope") or scope),
        obtained_at=now,
    )
