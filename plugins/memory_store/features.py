"""The optional features whose storage this store implements (``faktory_core_feature_storage``).

Each feature plugin defines the protocol its storage follows; this store implements it in a
module of its own and names it here: feature name → function building it on a ``MemoryStore``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from weakref import WeakKeyDictionary

from faktory_core.hookspecs import hookimpl
from faktory_core.plugins.memory_store import throttle, tracking
from faktory_core.plugins.memory_store.batch import build as build_batches
from faktory_core.plugins.memory_store.store import MemoryStore
from faktory_core.plugins.memory_store.unique import MemoryUniqueLocks
from faktory_core.store import Store

__all__ = ["FEATURES", "faktory_core_feature_storage"]

#: Feature name → builder of that feature's storage on this store.
FEATURES: dict[str, Callable[[MemoryStore], Any]] = {
    "unique": MemoryUniqueLocks,
    "throttle": throttle.MemoryThrottle,
    "track": tracking.MemoryTracking,
    "batch": build_batches,
}
#: The storage built for each (store, feature): servers sharing one MemoryStore share it too.
_BUILT: WeakKeyDictionary[MemoryStore, dict[str, Any]] = WeakKeyDictionary()


@hookimpl
def faktory_core_feature_storage(feature: str, store: Store) -> Any | None:
    build = FEATURES.get(feature)
    if build is None or not isinstance(store, MemoryStore):
        return None
    built = _BUILT.setdefault(store, {})
    if feature not in built:
        built[feature] = build(store)
    return built[feature]
