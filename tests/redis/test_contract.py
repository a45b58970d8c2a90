"""The store contract, unchanged, against the Redis store: with Faktory's own key names, and
again under a key prefix (every key and script must honour it)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from faktory_core.plugins.redis_store import RedisSettings, RedisStore
from faktory_core.testing import FakeClock, StoreContract


class TestRedisStoreContract(StoreContract):
    prefix = ""

    @pytest.fixture
    def clock(self) -> FakeClock:
        return FakeClock()

    @pytest.fixture
    async def store(self, clock: FakeClock, redis_url: str) -> AsyncIterator[RedisStore]:
        store = RedisStore(clock, RedisSettings(url=redis_url, prefix=self.prefix))
        await store.open()
        await store.flush()
        yield store
        await store.close()


class TestPrefixedRedisStoreContract(TestRedisStoreContract):
    prefix = "tenant-a:"
