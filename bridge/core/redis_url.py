"""The forms REDIS_URL takes, read without connecting: one Redis server, or a Sentinel service.

Plain URLs are redis-py's own (`redis://`, `rediss://` for TLS, `unix://`). Sentinel has
no URL in redis-py; the form below is the one the `redis-sentinel-url` package defined
and Redis's own RedisVL also reads (host list in the authority, service name as the path):

    redis+sentinel://[[username]:password@]host[:port][,host[:port]...]/service_name[/db][?sentinel_password=...]

The credentials are the Redis servers' (`requirepass` / ACL); `sentinel_password` is the
sentinels' own, when they have one. The port defaults to 26379, the db to 0.

That package itself was last released in 2017, and what it adds over redis-py's
`Sentinel.master_for` is this parsing, so the parsing lives here instead.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import parse_qs, unquote, urlsplit

PLAIN_SCHEMES = ("redis", "rediss", "unix")
SENTINEL_SCHEME = "redis+sentinel"
DEFAULT_SENTINEL_PORT = 26379


@dataclass(frozen=True)
class SentinelUrl:
    """A parsed `redis+sentinel://` URL."""

    sentinels: tuple[tuple[str, int], ...]
    service_name: str
    db: int = 0
    username: str | None = None
    password: str | None = None
    sentinel_password: str | None = None


def parse_sentinel_url(url: str) -> SentinelUrl:
    """Read a `redis+sentinel://` URL; ValueError says what is wrong with it."""
    parts = urlsplit(url)
    if parts.scheme != SENTINEL_SCHEME:
        raise ValueError(f"not a {SENTINEL_SCHEME}:// URL")
    credentials, _, hosts = parts.netloc.rpartition("@")
    username, password = None, None
    if credentials:
        user, has_password, secret = credentials.partition(":")
        username = unquote(user) or None
        password = unquote(secret) if has_password else None
    sentinels = tuple(_host_port(host) for host in hosts.split(",") if host)
    if not sentinels:
        raise ValueError("name at least one sentinel: redis+sentinel://host:26379/service_name")
    path = [unquote(p) for p in parts.path.split("/") if p]
    if not path or len(path) > 2:
        raise ValueError("the path must be /service_name or /service_name/db")
    db = 0
    if len(path) == 2:
        if not path[1].isdigit():
            raise ValueError(f"the database must be a number, not {path[1]!r}")
        db = int(path[1])
    query = parse_qs(parts.query)
    unknown = set(query) - {"sentinel_password"}
    if unknown:
        raise ValueError(f"unknown URL option(s): {', '.join(sorted(unknown))}")
    sentinel_password = query["sentinel_password"][0] if "sentinel_password" in query else None
    return SentinelUrl(sentinels, path[0], db, username, password, sentinel_password)


def _host_port(text: str) -> tuple[str, int]:
    # urlsplit of "//host:port" handles the [IPv6]:port form and checks the port.
    try:
        one = urlsplit(f"//{text}")
        port = one.port or DEFAULT_SENTINEL_PORT
    except ValueError:
        raise ValueError(f"bad sentinel address {text!r}") from None
    if not one.hostname:
        raise ValueError(f"bad sentinel address {text!r}")
    return one.hostname, port


def check_redis_url(url: str) -> None:
    """Raise ValueError, saying why, unless `url` is a form connect_redis takes."""
    scheme = urlsplit(url).scheme
    if scheme == SENTINEL_SCHEME:
        parse_sentinel_url(url)
    elif scheme not in PLAIN_SCHEMES:
        forms = ", ".join(f"{s}://" for s in (*PLAIN_SCHEMES, SENTINEL_SCHEME))
        raise ValueError(f"must start with one of {forms}")


def redacted(url: str) -> str:
    """The URL with its passwords replaced by `***`, for start-up lines and logs."""
    url = re.sub(r"(sentinel_password=)[^&]*", r"\1***", url)
    return re.sub(r"^([a-z+]+://[^:@/]*):[^@/]*@", r"\1:***@", url)
