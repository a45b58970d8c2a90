"""The optional features whose storage this store implements (``faktory_core_feature_storage``).

Each feature plugin defines the protocol its storage follows; this store implements it in a
module of its own and names it here: feature name → function building it on a ``RedisStore``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from faktory_core.hookspecs import hookimpl
from faktory_core.plugins.redis_store import throttle, tracking
from faktory_core.plugins.redis_store.batch import build as build_batches
from faktory_core.plugins.redis_store.metrics import RedisMinutes
from faktory_core.plugins.redis_store.store import RedisStore
from faktory_core.plugins.redis_store.unique import RedisUniqueLocks
from faktory_core.store import Store

__all__ = ["FEATURES", "faktory_core_feature_storage"]

#: Feature name → builder of that feature's storage on this store.
FEATURES: dict[str, Callable[[RedisStore], Any]] = {
    "unique": RedisUniqueLocks,
    "throttle": throttle.RedisThrottle,
    "track": tracking.RedisTracking,
    "batch": build_batches,
    "metrics": RedisMinutes,
}


@hookimpl
def faktory_core_feature_storage(feature: str, store: Store) -> Any | None:
    build = FEATURES.get(feature)
    if build is None or not isinstance(store, RedisStore):
        return None
    return build(store)
