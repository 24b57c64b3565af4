"""REDIS_URL forms: redis-py's own, and `redis+sentinel://` (tests/system/production/test_sentinel.py
runs the bridge on a real Sentinel set-up through a failover)."""

from __future__ import annotations

import signal
import time

import pytest
from redis.sentinel import SentinelConnectionPool

from bridge.core.redis_url import SentinelUrl, check_redis_url, parse_sentinel_url, redacted
from bridge.core.settings import SettingsError, load_settings
from bridge.ops.redis_connection import connect_redis
from tests.system.production.sentinel import sentinel_setup


def test_a_sentinel_url_names_the_sentinels_the_service_the_database_and_the_passwords():
    url = "redis+sentinel://:s%40cret@10.0.0.1:26380,10.0.0.2,[fd00::3]:26381/bridge/4?sentinel_password=x"
    assert parse_sentinel_url(url) == SentinelUrl(
        sentinels=(("10.0.0.1", 26380), ("10.0.0.2", 26379), ("fd00::3", 26381)),
        service_name="bridge",
        db=4,
        password="s@cret",
        sentinel_password="x",
    )
    assert parse_sentinel_url("redis+sentinel://app:pw@h/bridge") == SentinelUrl(
        (("h", 26379),), "bridge", 0, username="app", password="pw"
    )


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("redis+sentinel:///bridge", "at least one sentinel"),
        ("redis+sentinel://h:26379", "/service_name"),
        ("redis+sentinel://h:26379/bridge/0/extra", "/service_name"),
        ("redis+sentinel://h:26379/bridge/zero", "must be a number"),
        ("redis+sentinel://h:notaport/bridge", "bad sentinel address"),
        ("redis+sentinel://h/bridge?socket_timeout=1", "unknown URL option"),
        ("sentinel://h:26379/bridge", "must start with one of"),
        ("http://redis.internal:6379/0", "must start with one of"),
    ],
)
def test_a_malformed_redis_url_is_refused_at_start_up_naming_the_variable(url, why):
    with pytest.raises(ValueError, match=why):
        check_redis_url(url)
    with pytest.raises(SettingsError, match=f"REDIS_URL: .*{why}"):
        load_settings(environ={"REDIS_URL": url})


@pytest.mark.parametrize("url", ["redis://h:6379/0", "rediss://:pw@h:6380/1", "unix:///run/redis.sock?db=2"])
def test_plain_urls_are_redis_pys_own(url):
    check_redis_url(url)
    client = connect_redis(url)
    assert not isinstance(client.connection_pool, SentinelConnectionPool)
    assert load_settings(environ={"REDIS_URL": url}).redis_url == url


def test_a_sentinel_url_gives_a_client_of_the_services_master():
    client = connect_redis("redis+sentinel://:pw@127.0.0.1:1,127.0.0.1:2/bridge/3")
    pool = client.connection_pool
    assert isinstance(pool, SentinelConnectionPool) and pool.service_name == "bridge"
    assert pool.connection_kwargs["db"] == 3 and pool.connection_kwargs["password"] == "pw"


def test_passwords_are_left_out_of_what_is_shown():
    assert redacted("redis+sentinel://:pw@h1,h2/bridge/0?sentinel_password=x") == (
        "redis+sentinel://:***@h1,h2/bridge/0?sentinel_password=***"
    )
    assert redacted("redis://user:pw@h:6379/0") == "redis://user:***@h:6379/0"
    assert redacted("unix:///run/redis.sock") == "unix:///run/redis.sock"


class _Interrupted(Exception):
    pass


def test_a_read_cut_short_does_not_leave_its_reply_for_the_next_command(tmp_path):
    """As RQ's SIGTERM handler cuts the worker's BLPOP short: the connection must be dropped,
    not pooled with the BLPOP still pending (redis-py 8.1's sentinel connection kept it)."""

    def interrupt(_signum: int, _frame: object) -> None:
        raise _Interrupted

    with sentinel_setup(tmp_path / "sentinel") as setup:
        client = connect_redis(setup.url(db=1))
        client.set("probe", "value")
        previous = signal.signal(signal.SIGALRM, interrupt)
        try:
            signal.setitimer(signal.ITIMER_REAL, 0.3)
            with pytest.raises(_Interrupted):
                client.blpop(["nothing-here"], timeout=5)
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)
        started = time.monotonic()
        assert client.ping() is True
        assert client.get("probe") == b"value"
        assert time.monotonic() - started < 1, "the next command waited behind the cut-off BLPOP"
