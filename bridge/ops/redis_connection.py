"""Redis connections from REDIS_URL: one Redis server, or the master of a Sentinel service.

The URL forms, and their parsing, are in bridge/core/redis_url.py (the settings check them
at start-up); this module connects.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from redis import Redis
from redis.sentinel import Sentinel, SentinelManagedConnection

from bridge.core.redis_url import SENTINEL_SCHEME, parse_sentinel_url

# Asking a sentinel where the master is must not hang on a sentinel that is down: the
# next one in the list is asked instead.
SENTINEL_SOCKET_TIMEOUT = 2.0


class _SentinelConnection(SentinelManagedConnection):
    """redis-py's sentinel connection, with the read behaviour of every other connection.

    redis-py 8.1's SentinelManagedConnection.read_response defaults `disconnect_on_error`
    to False (redis/redis-py PR #4292, open), unlike the base Connection. A read cut short
    by an exception (RQ's SIGTERM handler during the worker's BLPOP, a job timeout) then
    puts the connection back in the pool with its reply still pending: the next command
    reads the previous reply, or waits behind the BLPOP (a worker that ignored SIGTERM in
    this project's test). Dropping the connection, as the base class does, is the safe way.
    """

    def read_response(
        self, disable_decoding: bool = False, *, disconnect_on_error: bool | None = True, **kwargs: Any
    ) -> Any:
        return super().read_response(disable_decoding, disconnect_on_error=disconnect_on_error, **kwargs)


def connect_redis(url: str) -> Redis:
    """A Redis client for `url`. Nothing is connected until the first command.

    For a Sentinel URL the client's connections ask the sentinels for the service's
    master, and ask again after a failover: a connection that finds its server turned
    into a replica (READONLY) or closed is dropped, and the next one goes to the master
    the sentinels name then. The command that met the switch fails with ConnectionError,
    as it would on a Redis restart (RQ's worker waits and asks again; the web side's
    enqueue leaves the Action to the relay).
    """
    if urlsplit(url).scheme != SENTINEL_SCHEME:
        return Redis.from_url(url)
    parsed = parse_sentinel_url(url)
    sentinel_kwargs = {
        "socket_timeout": SENTINEL_SOCKET_TIMEOUT,
        "socket_connect_timeout": SENTINEL_SOCKET_TIMEOUT,
        "password": parsed.sentinel_password,
    }
    sentinel = Sentinel(list(parsed.sentinels), sentinel_kwargs=sentinel_kwargs)
    return sentinel.master_for(
        parsed.service_name,
        db=parsed.db,
        username=parsed.username,
        password=parsed.password,
        connection_class=_SentinelConnection,
    )
