"""Every error fusionbridge raises on purpose, under one root.

    FusionBridgeError
    ├── ConfigError ............................ bad settings; the process exits 78
    ├── LedgerError ............................ the ledger (SQLite or PostgreSQL) cannot be used
    │   └── LedgerUnavailable .................. the PostgreSQL server is unreachable now; may pass
    ├── SourceNotFoundError .................... an [[inverters]] entry names nothing FusionSolar lists
    └── UpstreamError .......................... a remote API did not give a usable answer
        ├── CredentialsError ................... wrong or locked credentials: stop, never retry in a loop
        │   ├── FusionSolarLoginError
        │   └── RedexAuthError
        ├── SessionExpired ..................... FusionSolar failCode 305: log in once, repeat the call
        ├── RateLimitedError ................... told to slow down; carries retry_after (s)
        │   ├── FusionSolarRateLimited ......... failCode 407, HTTP 403/429
        │   │   └── PlatformThrottled .......... HTTP 403/429 from Huawei's gateway: wait a minute
        │   ├── DailyCapError .................. failCode 20618: endpoint waits until tomorrow
        │   ├── LoginQuotaError ................ our own guard: no login would keep us under 5 / 10 min
        │   └── RedexRateLimited ............... HTTP 429 + Retry-After
        ├── TransientError ..................... 5xx, timeouts, resets, HTML: retried with backoff
        │   ├── ConnectFailed .................. no connection: the request never reached Huawei
        │   └── UnexpectedResponseError ........ a body that is not the JSON we expect (snippet kept)
        ├── FusionSolarApiError ................ any other failCode (permission, batching, ...)
        ├── FusionSolarAuthorizationError ...... OAuth: the owner's authorization is gone; run `authorize`
        └── RedexRequestError .................. REDEX refused a request (400) or named bad items (422)

Clients translate transport and protocol failures into this tree at the boundary and always
chain the original (`raise ... from exc`), so callers only ever catch these.
"""

from __future__ import annotations


class FusionBridgeError(Exception):
    """Root of every error fusionbridge raises deliberately."""


class ConfigError(FusionBridgeError):
    """The configuration is invalid; `problems` holds one `location: message` line each."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("; ".join(problems))


class LedgerError(FusionBridgeError):
    """The ledger cannot be opened, migrated or written."""


class LedgerUnavailable(LedgerError):
    """The database server cannot be reached now; unlike other ledger errors this may pass."""


class SourceNotFoundError(FusionBridgeError):
    """A configured inverter source (ESN, device id, plant code) is not in the FusionSolar inventory."""


class UpstreamError(FusionBridgeError):
    """A remote service (FusionSolar or REDEX) did not give a usable answer."""

    api: str = "upstream"


class CredentialsError(UpstreamError):
    """Credentials were refused; retrying would only lock the account."""


class FusionSolarLoginError(CredentialsError):
    """FusionSolar refused the login (empty body, or failCode 20001/20002/20003/20400/20403)."""

    api = "fusionsolar"

    def __init__(self, message: str, fail_code: int | None = None) -> None:
        self.fail_code = fail_code
        super().__init__(message)


class RedexAuthError(CredentialsError):
    """REDEX refused the token grant."""

    api = "redex"


class SessionExpired(UpstreamError):
    """failCode 305: the token is no longer valid; the client logs in once and repeats the call."""

    api = "fusionsolar"


class RateLimitedError(UpstreamError):
    """Upstream asked us to slow down; `retry_after` is the wait in seconds it implies."""

    def __init__(self, message: str, retry_after: float) -> None:
        self.retry_after = retry_after
        super().__init__(message)


class FusionSolarRateLimited(RateLimitedError):
    """failCode 407 or the platform's HTTP 403/429 throttle."""

    api = "fusionsolar"


class PlatformThrottled(FusionSolarRateLimited):
    """HTTP 403/429 from Huawei's quota gateway (no failCode): wait at least a minute."""


class DailyCapError(RateLimitedError):
    """failCode 20618: the endpoint's daily quota is spent."""

    api = "fusionsolar"


class LoginQuotaError(RateLimitedError):
    """Logging in now would break Huawei's 5 logins per 10 minutes (or re-use refused credentials)."""

    api = "fusionsolar"


class RedexRateLimited(RateLimitedError):
    """REDEX answered 429."""

    api = "redex"


class TransientError(UpstreamError):
    """A failure worth retrying with backoff: 5xx, timeout, reset, gateway page."""


class ConnectFailed(TransientError):
    """No connection could be made, so the request never reached Huawei."""


class UnexpectedResponseError(TransientError):
    """A body that is not the JSON envelope we expect; `snippet` holds its first 200 characters."""

    def __init__(self, message: str, snippet: str = "") -> None:
        self.snippet = snippet[:200]
        super().__init__(f"{message}: {self.snippet!r}" if snippet else message)


class FusionSolarApiError(UpstreamError):
    """FusionSolar answered with a failCode that retrying will not fix."""

    api = "fusionsolar"

    def __init__(self, fail_code: int, message: str) -> None:
        self.fail_code = fail_code
        super().__init__(f"failCode {fail_code}: {message}")


class FusionSolarAuthorizationError(UpstreamError):
    """OAuth Connect: the token endpoint refused a grant; only the owner can authorize again."""

    api = "fusionsolar"


class RedexRequestError(UpstreamError):
    """REDEX refused the request as a whole (400) or some of its items (422)."""

    api = "redex"

    def __init__(self, status: int, message: str) -> None:
        self.status = status
        super().__init__(f"HTTP {status}: {message}")
