"""`storage.url` is a secret: checked without echoing it, shown without its password."""

from __future__ import annotations

from urllib.parse import unquote, urlsplit

SCHEMES = ("postgresql", "postgres")


def url_problem(url: str) -> str | None:
    """Why `url` is not a usable PostgreSQL URL (never quoting it), or None when it is."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (raises ValueError on a bad port)
    except ValueError:
        return "is not a valid URL"
    if parts.scheme not in SCHEMES:
        return "must start with postgresql://"
    import psycopg  # only when a URL is configured: the driver costs memory a SQLite box never uses
    from psycopg.conninfo import conninfo_to_dict

    try:
        conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        return "is not a valid PostgreSQL URL (check its options and percent-escapes)"
    return None


def safe_location(url: str) -> str:
    """The URL as it may be logged: scheme, user, host, port and database, no password."""
    parts = urlsplit(url)
    user = f"{parts.username}@" if parts.username else ""
    host = parts.hostname or "localhost"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{user}{host}{port}{parts.path}"


def redact(text: str, url: str) -> str:
    """`text` with the URL and its password (raw or percent-decoded) replaced by ***."""
    secrets = {url}
    password = urlsplit(url).password
    if password:
        secrets |= {password, unquote(password)}
    for secret in sorted(secrets, key=len, reverse=True):
        text = text.replace(secret, "***")
    return text
