"""The chaos test's Redis binary, as the redis_store tests find it."""

from ..redis.conftest import redis_binary  # noqa: F401, TID252
