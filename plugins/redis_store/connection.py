"""Where the Redis is and how to talk to it: settings, the client, and errors at the edge.

Settings come from the environment first (as Faktory Enterprise reads them), then the ``[redis]``
table of conf.d (docs/redis.md):

- ``REDIS_PROVIDER`` names the variable that holds the URL (Heroku style), else ``REDIS_URL``,
  else ``[redis] url``. None of them: the store starts its own local Redis (:mod:`.supervisor`).
- ``FAKTORY_REDIS_PREFIX``, else ``[redis] prefix``: a prefix for every key (default none).
- ``[redis] pool_size``: at most this many connections (default 50): one for the pub/sub
  subscription, the rest for the store's :class:`~.link.Link`, which pipelines commands and
  normally needs one or two. Blocked FETCHes hold none.
- ``[redis] min_replicas`` / ``replica_timeout`` (or ``?min_replicas=&replica_timeout=`` in the
  URL): after every script, ``WAIT`` until that many replicas have the write (default 0: no
  wait), at most ``replica_timeout`` seconds (default 1); fewer is an error.

The URL may also be a sentinel URL (:mod:`.sentinel`): the store then asks the sentinels for
the master and follows its failovers.

Every redis-py error is translated here into :class:`~faktory_core.errors.StoreError` with a
message that says what happened; the server answers it as ``-ERR``.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Coroutine, Iterator, Mapping
from typing import Any, ParamSpec, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import attrs
import redis.exceptions as rex
from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from faktory_core.errors import StoreError
from faktory_core.plugins.redis_store.link import COMMAND_TIMEOUT, Link
from faktory_core.plugins.redis_store.sentinel import (
    SCHEMES as SENTINEL_SCHEMES,
)
from faktory_core.plugins.redis_store.sentinel import (
    is_sentinel_url,
    parse_sentinel_url,
)

__all__ = [
    "DEFAULT_POOL_SIZE",
    "MIN_VERSION",
    "RedisSettings",
    "RedisSetupError",
    "describe",
    "is_sentinel_url",
    "make_pubsub_client",
    "map_errors",
    "redis_errors",
    "resolve_settings",
]

DEFAULT_POOL_SIZE = 50
DEFAULT_REPLICA_TIMEOUT = 1.0
#: Query options of any store URL that are the store's, not redis-py's.
_STORE_OPTIONS = ("min_replicas", "replica_timeout")
#: Seconds the subscription's connection may take to open.
CONNECT_TIMEOUT = 5.0
SCHEMES = ("redis", "rediss", "unix")
#: Oldest servers with what the scripts use (LMOVE, ZRANGE by index, UNLINK): Redis 6.2,
#: and Valkey, which reports redis_version 7.2.4 for compatibility.
MIN_VERSION = (6, 2)

P = ParamSpec("P")
T = TypeVar("T")


class RedisSetupError(RuntimeError):
    """The store cannot start: bad settings, no reachable Redis, no redis-server to run.

    A RuntimeError, so the command line prints the message alone and exits.
    """


@attrs.frozen
class RedisSettings:
    """``url`` None = start and supervise a local Redis in the storage directory."""

    url: str | None = None
    prefix: str = ""
    pool_size: int = DEFAULT_POOL_SIZE
    #: WAIT for this many replicas after every script (0: never).
    min_replicas: int = 0
    #: WAIT's limit, seconds.
    replica_timeout: float = DEFAULT_REPLICA_TIMEOUT


def _env_url(environ: Mapping[str, str]) -> str | None:
    provider = environ.get("REDIS_PROVIDER", "").strip()
    if provider:
        if ":" in provider or "/" in provider:
            raise RedisSetupError(
                "REDIS_PROVIDER must name the environment variable that holds the Redis URL "
                f"(e.g. REDIS_PROVIDER=REDISTOGO_URL), not the URL itself: {describe(provider)}"
            )
        url = environ.get(provider, "").strip()
        if not url:
            raise RedisSetupError(f"REDIS_PROVIDER names {provider}, which is not set")
        return url
    return environ.get("REDIS_URL", "").strip() or None


def _table(toml: Mapping[str, Any]) -> Mapping[str, Any]:
    table = toml.get("redis", {})
    if not isinstance(table, Mapping):
        raise RedisSetupError("[redis] in conf.d must be a table")
    return table


def resolve_settings(environ: Mapping[str, str], toml: Mapping[str, Any]) -> RedisSettings:
    """The settings from the environment and the ``[redis]`` TOML table, checked."""
    table = _table(toml)
    url = _env_url(environ) or table.get("url") or None
    options: dict[str, Any] = {key: table[key] for key in _STORE_OPTIONS if key in table}
    if url is not None:
        url, from_url = _store_options(str(url))
        options.update(from_url)
        check_url(url)
    prefix = environ.get("FAKTORY_REDIS_PREFIX", table.get("prefix", ""))
    pool_size = table.get("pool_size", DEFAULT_POOL_SIZE)
    if not isinstance(prefix, str):
        raise RedisSetupError("[redis] prefix must be a string")
    if not isinstance(pool_size, int) or isinstance(pool_size, bool) or pool_size < 2:
        raise RedisSetupError("[redis] pool_size must be an integer of at least 2")
    min_replicas = _number(options, "min_replicas", int, 0)
    replica_timeout = _number(options, "replica_timeout", float, DEFAULT_REPLICA_TIMEOUT)
    if min_replicas < 0:
        raise RedisSetupError("[redis] min_replicas must be 0 or more")
    if not 0 < replica_timeout < COMMAND_TIMEOUT:
        raise RedisSetupError(
            f"[redis] replica_timeout must be more than 0 and less than {COMMAND_TIMEOUT:g} s"
        )
    return RedisSettings(url, prefix, pool_size, min_replicas, replica_timeout)


def _number(options: Mapping[str, Any], key: str, kind: type, default: float) -> Any:
    value = options.get(key, default)
    if isinstance(value, bool):
        raise RedisSetupError(f"[redis] {key} must be a number, not {value!r}")
    try:
        return kind(value)
    except (TypeError, ValueError):
        raise RedisSetupError(f"[redis] {key} must be a number, not {value!r}") from None


def _store_options(url: str) -> tuple[str, dict[str, str]]:
    """The URL without the store's own query options, and those options."""
    base, mark, query = url.partition("?")
    if not mark:
        return url, {}
    query, hash_mark, fragment = query.partition("#")
    pairs = parse_qsl(query, keep_blank_values=True)
    own = {key: value for key, value in pairs if key in _STORE_OPTIONS}
    if not own:
        return url, {}
    rest = urlencode([(key, value) for key, value in pairs if key not in _STORE_OPTIONS])
    return base + (f"?{rest}" if rest else "") + hash_mark + fragment, own


def check_url(url: str) -> None:
    scheme = urlsplit(url).scheme.lower()
    if scheme in SENTINEL_SCHEMES:
        try:
            parse_sentinel_url(url)
        except ValueError as exc:
            raise RedisSetupError(f"bad sentinel URL {describe(url)}: {exc}") from None
        return
    if scheme not in SCHEMES:
        raise RedisSetupError(
            f"unsupported Redis URL {describe(url)}: use redis://, rediss://, unix:// "
            "or redis+sentinel://"
        )


def describe(url: str) -> str:
    """The URL with its password hidden (in the authority or the query), for messages."""
    parts = urlsplit(url)
    auth, at, hosts = parts.netloc.rpartition("@")  # hosts: a sentinel URL may name several
    if at and (":" in auth or urlsplit(url).scheme.lower() in SENTINEL_SCHEMES):
        user = auth.partition(":")[0] if ":" in auth else ""
        url = urlunsplit(parts._replace(netloc=f"{user}:***@{hosts}"))
    base, mark, query = url.partition("?")
    if "password" in query:
        hidden = [(k, "***" if "password" in k else v) for k, v in parse_qsl(query)]
        url = base + mark + urlencode(hidden, safe="*/")
    return url


def make_pubsub_client(url: str) -> Redis:
    """The redis-py client of the pub/sub subscription (:mod:`.wakeup`): one connection, no
    retries. Every other command goes through the store's :class:`~.link.Link`."""
    pool = BlockingConnectionPool.from_url(
        url,
        max_connections=1,
        timeout=CONNECT_TIMEOUT,
        socket_timeout=COMMAND_TIMEOUT,
        socket_connect_timeout=CONNECT_TIMEOUT,
        retry=Retry(NoBackoff(), 0),
        health_check_interval=30,
    )
    return Redis(connection_pool=pool)


def _refused_credentials(exc: BaseException) -> bool:
    """redis-py raises an authentication failure while connecting as a ConnectionError whose
    cause (or text) is the AuthenticationError."""
    seen: BaseException | None = exc
    for _ in range(5):
        if seen is None:
            return False
        if isinstance(seen, rex.AuthenticationError | rex.AuthorizationError):
            return True
        if any(text in str(seen) for text in ("WRONGPASS", "username-password", "NOAUTH")):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _message(exc: Exception, where: str) -> str:
    """What went wrong, in words an operator can act on (shown as ``-ERR ...``)."""
    if isinstance(exc, rex.BusyLoadingError):
        return f"Redis at {where} is loading its data set; try again shortly"
    if _refused_credentials(exc):
        return f"Redis at {where} refused the credentials: {exc}"
    if isinstance(exc, rex.TimeoutError):
        return f"Redis at {where} did not answer in time ({exc})"
    if isinstance(exc, rex.ConnectionError | ConnectionError | OSError):
        return f"Redis at {where} is unreachable ({exc})"
    if isinstance(exc, rex.ReadOnlyError):
        return f"Redis at {where} is read-only (a replica?): {exc}"
    if isinstance(exc, rex.OutOfMemoryError):
        return f"Redis at {where} is out of memory: {exc}"
    return f"Redis at {where} failed: {exc}"


@contextlib.contextmanager
def redis_errors(where: str) -> Iterator[None]:
    """Translate redis-py's exceptions (and socket errors) into StoreError."""
    try:
        yield
    except (rex.RedisError, OSError) as exc:
        raise StoreError(_message(exc, where)) from exc


def map_errors(
    method: Callable[P, Coroutine[Any, Any, T]],
) -> Callable[P, Coroutine[Any, Any, T]]:
    """Decorate a store method: redis errors leave it as StoreError (httpcore's
    ``map_exceptions``). The instance's ``where`` names the Redis in the message."""

    @functools.wraps(method)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        try:  # not redis_errors(): a context manager costs a µs or two on every command
            return await method(*args, **kwargs)
        except (rex.RedisError, OSError) as exc:
            where = str(getattr(args[0], "where", "redis"))
            raise StoreError(_message(exc, where)) from exc

    return wrapper


async def server_version(link: Link) -> tuple[str, tuple[int, ...]]:
    """The server's name and version (Valkey reports its own beside redis_version)."""
    text = bytes(await link.execute("INFO", "server")).decode("utf-8", "replace")
    info = dict(line.split(":", 1) for line in text.splitlines() if ":" in line)
    name = "valkey" if "valkey_version" in info else "redis"
    text = str(info.get("redis_version", "0"))
    return f"{name} {info.get('valkey_version', text)}", _version_tuple(text)


def _version_tuple(text: str) -> tuple[int, ...]:
    parts = []
    for piece in text.split("."):
        digits = "".join(char for char in piece if char.isdigit())
        parts.append(int(digits or "0"))
    return tuple(parts)
