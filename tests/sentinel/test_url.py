"""Sentinel URLs: every accepted spelling, and a clear error for each bad one (at start)."""

from __future__ import annotations

import pytest

from faktory_core.plugins.redis_store import RedisSetupError, resolve_settings
from faktory_core.plugins.redis_store.connection import describe
from faktory_core.plugins.redis_store.sentinel import SentinelSpec, parse_sentinel_url

TWO = (("h1", 26379), ("h2", 26380))


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("redis+sentinel://h1,h2:26380/mymaster", SentinelSpec(TWO, "mymaster")),
        ("sentinel://h1:26379,h2:26380/mymaster/3", SentinelSpec(TWO, "mymaster", db=3)),
        ("redis+sentinel://h1,h2:26380/mymaster?db=2", SentinelSpec(TWO, "mymaster", db=2)),
        ("redis-sentinel://h1,h2:26380/4#mymaster", SentinelSpec(TWO, "mymaster", db=4)),
        ("redis+sentinel://h1,h2:26380?master_name=m", SentinelSpec(TWO, "m")),
        ("redis+sentinel://h1,h2:26380/?service_name=m", SentinelSpec(TWO, "m")),
        (
            "redis+sentinel://:s%40cret@h1,h2:26380/m",
            SentinelSpec(TWO, "m", password="s@cret"),
        ),
        ("redis-sentinel://secret@h1,h2:26380/m", SentinelSpec(TWO, "m", password="secret")),
        (
            "redis+sentinel://app:pw@h1,h2:26380/m?sentinel_password=sp&sentinel_username=su",
            SentinelSpec(
                TWO,
                "m",
                username="app",
                password="pw",
                sentinel_username="su",
                sentinel_password="sp",
            ),
        ),
        (
            "rediss+sentinel://h1,h2:26380/m?ssl_cert_reqs=none&client_name=x",
            SentinelSpec(
                TWO, "m", tls=True, options=(("ssl_cert_reqs", "none"), ("client_name", "x"))
            ),
        ),
        ("redis+sentinel://[::1]:5000/m", SentinelSpec((("::1", 5000),), "m")),
        ("redis+sentinel://h1,h2:26380/m?password=pw", SentinelSpec(TWO, "m", password="pw")),
    ],
)
def test_accepted_forms(url: str, expected: SentinelSpec) -> None:
    assert parse_sentinel_url(url) == expected


def test_the_data_url_carries_data_credentials_and_sentinels_their_own() -> None:
    spec = parse_sentinel_url(
        "rediss+sentinel://app:p%2Fw@h1/m/2?sentinel_password=sp&ssl_cert_reqs=none&client_name=c"
    )
    assert spec.data_url("10.0.0.1", 6380) == (
        "rediss://app:p%2Fw@10.0.0.1:6380/2?ssl_cert_reqs=none&client_name=c"
    )
    assert spec.sentinel_url("h1", 26379) == "rediss://:sp@h1:26379/0?ssl_cert_reqs=none"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("redis+sentinel://h1:26379,h2:26379", "must name the master"),
        ("redis+sentinel://h1:26379/", "must name the master"),
        ("redis+sentinel:///mymaster", "at least one sentinel"),
        ("redis+sentinel://h1:port/mymaster", "port is not a number"),
        ("redis+sentinel://h1:26379/mymaster/x", "unexpected 'x'"),
        ("redis+sentinel://h1:26379/mymaster?db=two", "'two' is not a number"),
        ("redis+sentinel://h1:99999/mymaster", "bad sentinel address"),
    ],
)
def test_bad_urls_are_refused_at_start(url: str, message: str) -> None:
    with pytest.raises(RedisSetupError, match=message):
        resolve_settings({"REDIS_URL": url}, {})


def test_conf_d_and_redis_provider_take_sentinel_urls() -> None:
    url = "redis+sentinel://h1,h2:26380/m?min_replicas=1&replica_timeout=0.5"
    from_toml = resolve_settings({}, {"redis": {"url": url}})
    from_provider = resolve_settings({"REDIS_PROVIDER": "MY_URL", "MY_URL": url}, {})
    assert from_toml == from_provider
    assert from_toml.url == "redis+sentinel://h1,h2:26380/m"
    assert (from_toml.min_replicas, from_toml.replica_timeout) == (1, 0.5)


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"min_replicas": -1}, "min_replicas must be 0 or more"),
        ({"min_replicas": "many"}, "min_replicas must be a number"),
        ({"min_replicas": True}, "min_replicas must be a number"),
        ({"replica_timeout": 9}, "replica_timeout must be more than 0 and less than 5 s"),
        ({"replica_timeout": 0}, "replica_timeout must be more than 0"),
    ],
)
def test_bad_replica_settings_are_refused(table: dict[str, object], message: str) -> None:
    with pytest.raises(RedisSetupError, match=message):
        resolve_settings({}, {"redis": {"url": "redis://h", **table}})


def test_passwords_never_show() -> None:
    text = describe("redis+sentinel://u:pw1@h1,h2/m?sentinel_password=pw2&password=pw3")
    assert "pw1" not in text
    assert "pw2" not in text
    assert "pw3" not in text
    assert "h1,h2" in text
