"""Redis Sentinel: which Redis is the master now, and following it through failovers.

A sentinel URL (docs/redis.md, "High availability") names the sentinels and the master's name:

    redis+sentinel://[[user]:password@]host1[:26379],host2[:26379]/mymaster[/db][?options]

also spelled ``sentinel://``, ``redis-sentinel://`` (Lettuce; the master may be the fragment,
``#mymaster``) and, with TLS to the sentinels and to Redis, ``rediss+sentinel://`` or
``rediss-sentinel://``. The credentials in the URL are the data Redis's; the sentinels' are
``sentinel_username=`` / ``sentinel_password=``. ``master_name=`` (or ``service_name=``) and
``db=`` may stand in the query instead of the path. The other query options (``client_name``,
``ssl_*``) go to the Redis connections as for a ``redis://`` URL; ``ssl_*`` to the sentinels'
too.

:func:`discover` asks each sentinel in turn (``SENTINEL get-master-addr-by-name``) and accepts an
address only once Redis there answers ``ROLE`` with ``master``. A :class:`Follower` keeps that
answer current: it subscribes to every sentinel's failover events, polls one sentinel every
:data:`POLL_SECONDS`, and re-checks at once when the store's link reports trouble (a
``READONLY`` reply, a lost connection). When a sentinel starts a failover of our master
(``+try-failover``) the follower *holds* the store: its connections close and commands answer
``-ERR`` until the sentinels name the new master (``+switch-master``), so nothing is written to
the old master while the replica is being promoted -- writes the old master acknowledges then
would be lost when it rejoins as a replica. The hold ends with the switch, with an aborted
failover, or after :data:`HOLD_SECONDS` (the master is then whatever the sentinels say).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit

import attrs
import redis.exceptions as rex
from redis.asyncio import Redis

from faktory_core.errors import StoreError
from faktory_core.timefmt import format_ts

__all__ = [
    "SCHEMES",
    "Follower",
    "Master",
    "SentinelSpec",
    "discover",
    "follow",
    "is_sentinel_url",
    "parse_sentinel_url",
]

log = logging.getLogger("faktory_core.plugins.redis_store")

#: URL schemes of a sentinel URL, and whether each means TLS.
SCHEMES = {
    "redis+sentinel": False,
    "sentinel": False,
    "redis-sentinel": False,
    "rediss+sentinel": True,
    "rediss-sentinel": True,
}
DEFAULT_PORT = 26379
#: Seconds a sentinel (or a Redis being checked) may take to connect or answer.
ASK_SECONDS = 2.0
#: Seconds between two polls of the sentinels (the fallback when an event is missed).
POLL_SECONDS = 1.0
#: Longest hold of the store's commands during a failover, in seconds.
HOLD_SECONDS = 15.0
#: Query options that belong to the sentinel URL itself, not to the Redis connections.
_OWN = frozenset({"master_name", "service_name", "sentinel_username", "sentinel_password", "db"})
#: Sentinel events that say our master is being replaced, or that it is no longer.
_STARTED = "+try-failover"
_SWITCHED = "+switch-master"
_ABORTED = ("-failover-abort-not-elected", "-failover-abort-no-good-slave",
            "-failover-abort-slave-timeout")  # fmt: skip


@attrs.frozen
class SentinelSpec:
    """What a sentinel URL says."""

    sentinels: tuple[tuple[str, int], ...]
    master: str
    db: int = 0
    username: str | None = None
    password: str | None = None
    sentinel_username: str | None = None
    sentinel_password: str | None = None
    tls: bool = False
    #: Query options passed on to the Redis connections (``client_name``, ``ssl_*``…).
    options: tuple[tuple[str, str], ...] = ()

    def describe(self) -> str:
        """The URL in words, passwords left out."""
        hosts = ",".join(_hostport(host, port) for host, port in self.sentinels)
        return f"sentinel master {self.master!r} via {hosts}"

    def data_url(self, host: str, port: int) -> str:
        """The ``redis://`` (``rediss://``) URL of the Redis at ``host:port``."""
        return self._url(self.username, self.password, host, port, self.db, self.options)

    def sentinel_url(self, host: str, port: int) -> str:
        """The URL of one sentinel (its credentials, and the TLS options only)."""
        tls = tuple((k, v) for k, v in self.options if k.startswith("ssl"))
        user, password = self.sentinel_username, self.sentinel_password
        return self._url(user, password, host, port, 0, tls)

    def _url(
        self,
        user: str | None,
        password: str | None,
        host: str,
        port: int,
        db: int,
        options: tuple[tuple[str, str], ...],
    ) -> str:
        auth = ""
        if password is not None or user is not None:
            secret = "" if password is None else ":" + quote(password, safe="")
            auth = f"{quote(user or '', safe='')}{secret}@"
        query = f"?{urlencode(options)}" if options else ""
        scheme = "rediss" if self.tls else "redis"
        return f"{scheme}://{auth}{_hostport(host, port)}/{db}{query}"


def _hostport(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def is_sentinel_url(url: str) -> bool:
    return urlsplit(url).scheme.lower() in SCHEMES


def _hosts(netloc: str) -> tuple[str | None, str | None, tuple[tuple[str, int], ...]]:
    """``[user[:password]@]host[:port],host[:port]`` (IPv6 in brackets)."""
    auth, at, hosts = netloc.rpartition("@")
    user: str | None = None
    password: str | None = None
    if at:
        name, colon, secret = auth.partition(":")
        user = unquote(name) or None
        password = unquote(secret) if colon else None
        if not colon:  # "secret@host": a lone word is a password, as for redis://
            user, password = None, unquote(name)
    found: list[tuple[str, int]] = []
    for piece in hosts.split(","):
        piece = piece.strip()
        if not piece:
            continue
        if piece.startswith("["):
            host, _, rest = piece[1:].partition("]")
            port_text = rest[1:] if rest.startswith(":") else ""
        else:
            host, _, port_text = piece.partition(":")
        try:
            port = int(port_text) if port_text else DEFAULT_PORT
        except ValueError:
            raise ValueError(f"bad sentinel address {piece!r}: the port is not a number") from None
        if not host or not 0 < port < 65536:
            raise ValueError(f"bad sentinel address {piece!r}")
        found.append((host, port))
    return user, password, tuple(found)


def parse_sentinel_url(url: str) -> SentinelSpec:
    """Read a sentinel URL (module docstring); ValueError says what is wrong with it."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES:
        raise ValueError(f"not a sentinel URL (scheme {scheme!r})")
    user, password, sentinels = _hosts(parts.netloc)
    if not sentinels:
        raise ValueError("a sentinel URL needs at least one sentinel: host:26379[,host:26379]")
    query = parse_qsl(parts.query, keep_blank_values=True)
    own = {key: value for key, value in query if key in _OWN}
    options = tuple((key, value) for key, value in query if key not in _OWN)
    path = [unquote(piece) for piece in parts.path.split("/") if piece]
    master = own.get("master_name") or own.get("service_name") or unquote(parts.fragment)
    db_text = own.get("db", "")
    if path and not master:
        master, path = path[0], path[1:]
    if len(path) == 1 and path[0].isdigit() and not db_text:
        db_text, path = path[0], []
    if path:
        raise ValueError(f"unexpected {'/'.join(path)!r} in the path: write /<master>[/<db>]")
    if not master:
        raise ValueError(
            "a sentinel URL must name the master: redis+sentinel://host:26379/<master>[/<db>]"
        )
    try:
        db = int(db_text or 0)
    except ValueError:
        raise ValueError(f"the database {db_text!r} is not a number") from None
    if db < 0:
        raise ValueError(f"the database {db} is negative")
    for key, value in options:
        if key in {"password", "username"}:  # redis-py's query spelling of the data credentials
            if key == "password":
                password = value
            else:
                user = value
    options = tuple((k, v) for k, v in options if k not in {"password", "username"})
    return SentinelSpec(
        sentinels=sentinels,
        master=master,
        db=db,
        username=user,
        password=password,
        sentinel_username=own.get("sentinel_username") or None,
        sentinel_password=own.get("sentinel_password") or None,
        tls=SCHEMES[scheme],
        options=options,
    )


# -- asking -----------------------------------------------------------------------------------


def _client(url: str) -> Redis:
    return Redis.from_url(
        url,
        socket_timeout=ASK_SECONDS,
        socket_connect_timeout=ASK_SECONDS,
        retry_on_timeout=False,
        retry=None,
        single_connection_client=True,
    )


async def _ask(client: Redis, *args: Any) -> Any:
    async with asyncio.timeout(ASK_SECONDS):
        return await client.execute_command(*args)  # type: ignore[no-untyped-call]


async def _role(spec: SentinelSpec, host: str, port: int) -> str:
    """What the Redis at ``host:port`` says it is (``master``, ``slave``…)."""
    client = _client(spec.data_url(host, port))
    try:
        reply = await _ask(client, "ROLE")
    finally:
        with contextlib.suppress(rex.RedisError, OSError):
            await client.aclose()
    first = reply[0] if isinstance(reply, list | tuple) and reply else reply
    return first.decode() if isinstance(first, bytes) else str(first)


async def _master_from(spec: SentinelSpec, host: str, port: int) -> tuple[str, int] | None:
    """One sentinel's answer: the master's address, or None when it does not know the name."""
    client = _client(spec.sentinel_url(host, port))
    try:
        reply = await _ask(client, "SENTINEL", "get-master-addr-by-name", spec.master)
    finally:
        with contextlib.suppress(rex.RedisError, OSError):
            await client.aclose()
    if not reply:
        return None
    address, port_text = reply
    return (address.decode() if isinstance(address, bytes) else str(address), int(port_text))


@attrs.frozen
class Master:
    host: str
    port: int

    def __str__(self) -> str:
        return _hostport(self.host, self.port)


async def discover(spec: SentinelSpec) -> Master:
    """The master now: the first address a sentinel names whose Redis answers ROLE ``master``.

    Raises StoreError naming what each sentinel said when none gives one: every sentinel
    unreachable, the name unknown to all that answered, or a named Redis that is not a master.
    """
    said: list[str] = []
    unknown = 0
    for host, port in spec.sentinels:
        where = _hostport(host, port)
        try:
            found = await _master_from(spec, host, port)
        except (rex.RedisError, OSError, TimeoutError) as exc:
            said.append(f"{where}: {_why(exc)}")
            continue
        if found is None:
            unknown += 1
            said.append(f"{where}: no master named {spec.master!r}")
            continue
        master = Master(*found)
        try:
            role = await _role(spec, master.host, master.port)
        except (rex.RedisError, OSError, TimeoutError) as exc:
            said.append(f"{where}: names {master}, which does not answer ({_why(exc)})")
            continue
        if role == "master":
            return master
        said.append(f"{where}: names {master}, which is a {role}, not a master")
    if unknown == len(spec.sentinels):
        raise StoreError(f"the sentinels know no master named {spec.master!r} ({'; '.join(said)})")
    if unknown == 0 and all("does not answer" not in s and "names" not in s for s in said):
        raise StoreError(f"no sentinel of {spec.describe()} is reachable ({'; '.join(said)})")
    raise StoreError(f"no master for {spec.describe()} ({'; '.join(said)})")


def _why(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError | rex.TimeoutError):
        return "timed out"
    return str(exc) or type(exc).__name__


# -- following --------------------------------------------------------------------------------


@attrs.frozen
class Failover:
    """A change of master the store followed."""

    at: float  # Unix seconds
    old: Master
    new: Master

    def describe(self) -> str:
        return f"{format_ts(self.at)} {self.old} -> {self.new}"


#: What the store does on a switch: reconnect its commands and subscription to the URL.
Switch = Callable[[Master], Awaitable[None]]
#: Hold (a reason) or release (None) the store's commands.
Hold = Callable[[str | None], None]


class Follower:
    """Keeps the store on the current master (module docstring)."""

    def __init__(self, spec: SentinelSpec, master: Master, switch: Switch, hold: Hold) -> None:
        self.spec = spec
        self.master = master
        self.last_failover: Failover | None = None
        self._switch = switch
        self._hold = hold
        self._held_since: float | None = None
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def url(self) -> str:
        """The current master's URL."""
        return self.spec.data_url(self.master.host, self.master.port)

    def report(self) -> dict[str, str]:
        """For INFO and /debug."""
        out = {
            "sentinel_master": f"{self.spec.master} {self.master}",
            "sentinels": ",".join(_hostport(h, p) for h, p in self.spec.sentinels),
            "last_failover": self.last_failover.describe() if self.last_failover else "none",
        }
        if self._held_since is not None:
            out["failover_in_progress"] = f"since {format_ts(self._held_since)}"
        return out

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._poll())]
        self._tasks += [loop.create_task(self._listen(h, p)) for h, p in self.spec.sentinels]

    async def stop(self) -> None:
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def suspect(self, _why: BaseException | None = None) -> None:
        """The link saw trouble (READONLY, a lost connection): check the master soon."""
        self._wake.set()

    async def _poll(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(POLL_SECONDS):
                    await self._wake.wait()
            self._wake.clear()
            try:
                await self.check()
            except Exception:  # a dead follower would leave the store on a gone master
                log.exception("checking the sentinels for %r failed", self.spec.master)

    async def check(self) -> None:
        """Ask the sentinels; switch when they name another master that says it is one."""
        async with self._lock:
            held = self._held_since
            if held is not None and time.monotonic() - held > HOLD_SECONDS:
                self._release("the failover took too long; going on with what the sentinels say")
            try:
                master = await discover(self.spec)
            except StoreError as exc:
                log.debug("sentinel check: %s", exc.message)
                return
            if master != self.master:
                old, self.master = self.master, master
                self.last_failover = Failover(time.time(), old, master)
                log.warning("redis master %r moved: %s -> %s", self.spec.master, old, master)
                await self._switch(master)
                self._release(None)

    def _release(self, why: str | None) -> None:
        if self._held_since is None:
            return
        if why:
            log.warning("%s", why)
        self._held_since = None
        self._hold(None)

    def _on_event(self, channel: str, data: str) -> None:
        words = data.split()
        if channel == _SWITCHED:
            if words and words[0] == self.spec.master:
                self._wake.set()
            return
        # "<type> <name> <ip> <port> @ <master> <ip> <port>", or "master <name> <ip> <port>"
        ours = words[1:2] == [self.spec.master] and words[:1] == ["master"]
        if not ours:
            return
        if channel == _STARTED and self._held_since is None:
            self._held_since = time.monotonic()
            log.warning("sentinels fail over %r: holding commands until it ends", self.spec.master)
            self._hold(f"failover of Redis master {self.spec.master!r} in progress")
        elif channel in _ABORTED:
            self._release(f"failover of {self.spec.master!r} aborted ({channel})")
        self._wake.set()

    async def _listen(self, host: str, port: int) -> None:
        """Subscribe to one sentinel's failover events; come back after it drops."""
        channels = (_STARTED, _SWITCHED, *_ABORTED)
        while True:
            client = _client(self.spec.sentinel_url(host, port))
            pubsub: Any = client.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(*channels)
                while True:
                    message = await pubsub.get_message(
                        ignore_subscribe_messages=True, timeout=POLL_SECONDS * 10
                    )
                    if message is not None and message.get("type") == "message":
                        self._on_event(_text(message["channel"]), _text(message["data"]))
            except (rex.RedisError, OSError, TimeoutError) as exc:
                log.debug("sentinel %s: %s", _hostport(host, port), exc)
            finally:
                with contextlib.suppress(rex.RedisError, OSError):
                    await pubsub.aclose()
                    await client.aclose()
            await asyncio.sleep(POLL_SECONDS)


async def follow(url: str, switch: Switch, hold: Hold) -> Follower | None:
    """A follower on the master the sentinels name, when ``url`` is a sentinel URL; else None.
    StoreError when the URL is bad or no master can be found."""
    if not is_sentinel_url(url):
        return None
    try:
        spec = parse_sentinel_url(url)
    except ValueError as exc:
        raise StoreError(f"bad sentinel URL: {exc}") from None
    return Follower(spec, await discover(spec), switch, hold)


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
