"""The Redis store plugin: ``faktory-core --plugin redis_store``.

Everything in Redis ≥ 6.2 or Valkey ≥ 7.2, in Faktory 1.10's key layout, so the data is durable,
every move of a job is atomic, and several faktory-core servers can share one Redis. With
``REDIS_URL``/``REDIS_PROVIDER`` it connects there; without, it starts and supervises a local
``redis-server``/``valkey-server`` in the storage directory, as Faktory does. docs/redis.md
tells the rest.
"""

from __future__ import annotations

import os

from faktory_core.clock import Clock
from faktory_core.config import Config
from faktory_core.hookspecs import hookimpl
from faktory_core.plugins.redis_store.connection import (
    RedisSettings,
    RedisSetupError,
    resolve_settings,
)
from faktory_core.plugins.redis_store.features import faktory_core_feature_storage
from faktory_core.plugins.redis_store.keys import Keys
from faktory_core.plugins.redis_store.store import RedisStore
from faktory_core.plugins.redis_store.supervisor import LocalRedis, find_server_binary
from faktory_core.store import Store

__all__ = [
    "Keys",
    "LocalRedis",
    "RedisSettings",
    "RedisSetupError",
    "RedisStore",
    "faktory_core_feature_storage",
    "faktory_core_make_store",
    "find_server_binary",
    "resolve_settings",
]


@hookimpl
def faktory_core_make_store(config: Config, clock: Clock) -> Store:
    settings = resolve_settings(os.environ, config.toml)
    # Faktory runs its Redis at "notice" only when debugging; "warning" keeps the log quiet.
    loglevel = "notice" if config.log_level == "debug" else "warning"
    return RedisStore(clock, settings, storage=config.storage_dir, loglevel=loglevel)
