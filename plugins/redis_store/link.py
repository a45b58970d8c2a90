"""The store's commands to Redis: pipelined on a few connections, replies matched in order.

Why not redis-py's pool: every redis-py command takes a connection from the pool (a lock, and
for the blocking pool a condition with a timer), wraps the send in ``asyncio.wait_for`` and the
read in ``asyncio.timeout`` when a socket timeout is set, goes through the retry and
observability wrappers, and reads through a stream reader. That is 40-55 µs of Python per
command here, more than the whole memory store spends on a job. The Link instead:

- writes each command (``hiredis.pack_command``) into the buffer of a connection that is
  already open and flushes the buffer once per event-loop pass, so the commands of several
  FETCHes and ACKs that arrive together reach Redis in one write (and Redis answers them in
  one read and one write);
- parses replies with hiredis's C reader in the connection's ``data_received`` and resolves
  the oldest pending future: Redis answers the commands of a connection in order. A caller
  that gives up (cancelled) leaves its future in line, so the order never slips;
- watches the time instead of timing each command: once a second a connection whose oldest
  command has waited :data:`COMMAND_TIMEOUT` is an outage (every pending command fails with a
  TimeoutError, and the connection is closed).

Connections are bounded by ``size`` and opened on demand, one at a time. Normally one carries
everything; a second one is used when the first has :data:`DEPTH` commands in flight, or is
busy with a bulky reply (a whole set or a page of a thousand entries), which commands marked
``bulky`` keep off the first connection when they can. No blocking command (``BLPOP``…) and no
``MULTI`` ever goes through a Link: a blocked FETCH waits on an event, not on Redis
(:mod:`.wakeup`), and every atomic step is one script.

Errors are redis-py's exception classes, so :func:`.connection.redis_errors` turns them into
``-ERR`` messages as before: ``ConnectionError`` (cannot connect, or the connection dropped
with the command in flight), ``TimeoutError``, ``ResponseError`` and its subclasses for error
replies (``NOSCRIPT``, ``LOADING``, ``READONLY``, ``OOM``, ``WRONGPASS``/``NOAUTH``). Nothing
is retried here, except a script that Redis does not know (``NOSCRIPT``: it did not run) is
sent again with its source.

The URL is read by redis-py's ``parse_url`` and the connection class it names, so the same
URLs work as for redis-py (``redis://``, ``rediss://`` with its ``ssl_*`` options,
``unix://``, user, password, db, ``client_name``). The Link speaks RESP2.
"""

from __future__ import annotations

import asyncio
import hashlib
import ssl
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from typing import Any, cast

import hiredis
import redis.exceptions as rex
from redis.asyncio.connection import AbstractConnection, Connection, SSLConnection, parse_url

__all__ = ["COMMAND_TIMEOUT", "DEPTH", "Arg", "Link", "NotReplicated", "Script"]

#: What a command argument may be. Floats are formatted by the caller (``codec.fstr``).
Arg = bytes | str | int | float
#: Seconds a command may wait for its reply, or a connection to open, before it counts as an
#: outage (Faktory: 5 s per command).
COMMAND_TIMEOUT = 5.0
#: Commands in flight on one connection before another one is opened (when ``size`` allows).
DEPTH = 64
#: How often each open connection looks at the age of its oldest pending command.
WATCH_SECONDS = 1.0

_ERRORS: dict[str, type[rex.RedisError]] = {
    "NOSCRIPT": rex.NoScriptError,
    "LOADING": rex.BusyLoadingError,
    "READONLY": rex.ReadOnlyError,
    "OOM": rex.OutOfMemoryError,
    "WRONGPASS": rex.AuthenticationError,
    "NOAUTH": rex.AuthenticationError,
    "NOPERM": rex.NoPermissionError,
    "EXECABORT": rex.ExecAbortError,
}


def _fresh(error: BaseException) -> BaseException:
    """A copy of ``error`` for one more caller (one exception object raised in many tasks
    would collect all their tracebacks)."""
    try:
        return type(error)(*error.args)
    except Exception:
        return error


#: One command in RESP: hiredis's C function itself, no Python frame around it (its stub wrongly
#: asks for a one-element tuple).
_pack = cast(Callable[[Sequence[Arg]], bytes], hiredis.pack_command)


def reply_error(error: hiredis.ReplyError) -> rex.RedisError:
    """An error reply as the redis-py exception its first word names."""
    text = str(error)
    cls: type[rex.RedisError] = _ERRORS.get(text.split(" ", 1)[0], rex.ResponseError)
    if cls is rex.ResponseError and "invalid password" in text:
        cls = rex.AuthenticationError  # Redis < 6 words it so
    return cls(text)


class NotReplicated(rex.RedisError):
    """``WAIT`` counted fewer replicas than ``min_replicas``: the write is done on the master
    but not acknowledged (a failover may lose it)."""


class _Connection(asyncio.Protocol):
    """One socket to Redis: a write buffer flushed once per loop pass, and the futures of the
    commands sent on it, oldest first."""

    def __init__(self, link: Link) -> None:
        self._link = link
        self._loop = link.loop
        self._reader = hiredis.Reader()
        self._transport: asyncio.Transport | None = None
        #: (future, time sent) of every command whose reply has not arrived.
        self.pending: deque[tuple[asyncio.Future[Any], float]] = deque()
        self._out: list[bytes] = []
        #: Bulky commands in flight (their replies may be large).
        self.bulky = 0
        self.closed: BaseException | None = None
        self._watch: asyncio.TimerHandle | None = None

    # -- asyncio.Protocol -------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's is no subclass
        self._watch = self._loop.call_later(WATCH_SECONDS, self._check_age)

    def data_received(self, data: bytes) -> None:
        reader = self._reader
        try:
            reader.feed(data)
            pending = self.pending
            while (reply := reader.gets()) is not False:
                future, _ = pending.popleft()
                if not future.done():
                    future.set_result(reply)
                if type(reply) is hiredis.ReplyError and str(reply).startswith("READONLY"):
                    self._link.trouble(reply_error(reply))
        except (hiredis.ProtocolError, IndexError) as exc:
            # IndexError: a reply nobody asked for (the pending line is empty)
            self.close(
                rex.ConnectionError(f"Redis at {self._link.where} broke the protocol: {exc}")
            )

    def connection_lost(self, exc: Exception | None) -> None:
        detail = f": {exc}" if exc is not None else ""
        self.close(rex.ConnectionError(f"Connection to {self._link.where} closed{detail}"))

    # -- commands ---------------------------------------------------------------------------
    def send(self, packed: bytes, bulky: bool = False) -> asyncio.Future[Any]:
        """Queue one packed command for the next flush; its future gets the reply."""
        if self.closed is not None:
            raise _fresh(self.closed)
        future = self._loop.create_future()
        if not self._out:
            self._loop.call_soon(self._flush)
        self._out.append(packed)
        self.pending.append((future, self._loop.time()))
        if bulky:
            self.bulky += 1
            future.add_done_callback(self._bulky_done)
        return future

    def send_many(self, packed: Sequence[bytes], bulky: bool) -> list[asyncio.Future[Any]]:
        return [self.send(one, bulky) for one in packed]

    def _bulky_done(self, _: asyncio.Future[Any]) -> None:
        self.bulky -= 1

    def _flush(self) -> None:
        out, self._out = self._out, []
        if self._transport is not None and self.closed is None and out:
            self._transport.write(out[0] if len(out) == 1 else b"".join(out))

    def _check_age(self) -> None:
        self._watch = None
        if self.closed is not None:
            return
        if self.pending and self._loop.time() - self.pending[0][1] >= COMMAND_TIMEOUT:
            self.close(
                rex.TimeoutError(f"no reply from {self._link.where} in {COMMAND_TIMEOUT:g}s")
            )
            return
        self._watch = self._loop.call_later(WATCH_SECONDS, self._check_age)

    def close(self, why: BaseException) -> None:
        """Fail every pending command with ``why`` and drop the socket (idempotent)."""
        if self.closed is not None:
            return
        self.closed = why
        self._link.forget(self)
        self._link.trouble(why)
        if self._watch is not None:
            self._watch.cancel()
            self._watch = None
        pending, self.pending = self.pending, deque()
        for future, _ in pending:
            if not future.done():
                future.set_exception(_fresh(why))
                future.exception()  # retrieved: the caller of a batch may have stopped at one
        self._out = []
        if self._transport is not None:
            self._transport.abort()


class Link:
    """Commands to one Redis over at most ``size`` pipelined connections (module docstring)."""

    def __init__(
        self,
        url: str,
        size: int,
        where: str,
        *,
        on_trouble: Callable[[BaseException], None] | None = None,
        master_only: bool = False,
        min_replicas: int = 0,
        replica_timeout: float = 1.0,
    ) -> None:
        if size < 1:
            raise ValueError("a Link needs at least one connection")
        if min_replicas and not 0 < replica_timeout < COMMAND_TIMEOUT:
            raise ValueError(f"replica_timeout must be between 0 and {COMMAND_TIMEOUT:g} s")
        self.where = where
        self.size = size
        self._target = _Target(url)
        self._conns: list[_Connection] = []
        self._opening: asyncio.Future[_Connection] | None = None
        self._closed = False
        self._loop: asyncio.AbstractEventLoop | None = None
        #: Told about READONLY replies and lost connections (a sentinel follower).
        self._on_trouble = on_trouble
        #: Refuse a connection whose Redis does not answer ROLE with ``master``.
        self.master_only = master_only
        #: Set while new connections are refused (a failover in progress): the reason.
        self.held: str | None = None
        #: ``WAIT min_replicas`` after every script, up to ``replica_timeout`` seconds.
        self.min_replicas = min_replicas
        self.wait_ms = max(1, round(replica_timeout * 1000))

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        return self._loop

    @property
    def connections(self) -> int:
        """Open connections (for tests and the debug page)."""
        return len(self._conns)

    # -- commands ---------------------------------------------------------------------------
    async def execute(self, *args: Arg, bulky: bool = False) -> Any:
        """Send one command and return its reply (RESP2: bytes, int, list, None)."""
        conn = self.pick(bulky) or await self.open_for(bulky)
        reply = await conn.send(_pack(args), bulky)
        if type(reply) is hiredis.ReplyError:
            raise reply_error(reply)
        return reply

    async def many(self, commands: Iterable[Sequence[Arg]], *, bulky: bool = False) -> list[Any]:
        """Several commands in one write, on one connection; their replies in order. Not a
        transaction: the first error reply is raised after every reply has arrived."""
        packed = [_pack(tuple(args)) for args in commands]
        if not packed:
            return []
        conn = self.pick(bulky) or await self.open_for(bulky)
        replies = await asyncio.gather(*conn.send_many(packed, bulky), return_exceptions=True)
        for reply in replies:
            if type(reply) is hiredis.ReplyError:  # an error reply (hiredis's class)
                raise reply_error(reply)
            if isinstance(reply, BaseException):  # the connection failed
                raise reply
        return replies

    # -- connections ------------------------------------------------------------------------
    def pick(self, bulky: bool) -> _Connection | None:
        """An open connection for one more command, or None when one should be opened.

        The first connection with fewer than DEPTH commands in flight and no bulky one takes
        the command; a bulky command looks past the first connection, which keeps the hot
        commands. When none qualifies and ``size`` allows, None: open another. Else the
        least busy one.
        """
        conns = self._conns
        for conn in conns[1:] if bulky else conns:
            if not conn.bulky and len(conn.pending) < DEPTH:
                return conn
        if len(conns) < self.size:
            return None
        return min(conns, key=lambda conn: (conn.bulky, len(conn.pending))) if conns else None

    async def open_for(self, bulky: bool) -> _Connection:
        """Open a connection (one open at a time: others wait for it), then pick again."""
        while True:
            opening = self._opening
            if opening is None:
                return await self._open_one()
            await asyncio.wait([opening])  # never raises, and never cancels the opener
            if not opening.cancelled() and (failed := opening.exception()) is not None:
                raise _fresh(failed)
            picked = self.pick(bulky)
            if picked is not None:
                return picked

    async def _open_one(self) -> _Connection:
        """Open one connection; callers that need one meanwhile wait for this one. When the
        opener is cancelled, they try for themselves."""
        opening: asyncio.Future[_Connection] = self.loop.create_future()
        self._opening = opening
        try:
            conn = await self._open()
        except Exception as exc:
            opening.set_exception(exc)
            opening.exception()  # retrieved: the waiters may all be gone
            raise
        except BaseException:
            opening.cancel()
            raise
        finally:
            self._opening = None
        opening.set_result(conn)
        return conn

    async def _open(self) -> _Connection:
        if self._closed:
            raise rex.ConnectionError(f"the connection to {self.where} is closed")
        if self.held is not None:
            raise rex.ConnectionError(self.held)
        target = self._target
        try:
            if target.path is not None:
                _, conn = await asyncio.wait_for(
                    self.loop.create_unix_connection(lambda: _Connection(self), target.path),
                    COMMAND_TIMEOUT,
                )
            else:
                _, conn = await asyncio.wait_for(
                    self.loop.create_connection(
                        lambda: _Connection(self),
                        target.host,
                        target.port,
                        ssl=target.ssl_context(),
                        server_hostname=target.host if target.tls is not None else None,
                    ),
                    COMMAND_TIMEOUT,
                )
        except (TimeoutError, OSError) as exc:
            why = "timed out" if isinstance(exc, asyncio.TimeoutError) else str(exc)
            raise rex.ConnectionError(f"Error connecting to {self.where}: {why}") from exc
        try:
            await self._hello(conn)
        except BaseException:
            conn.close(rex.ConnectionError("handshake failed"))
            raise
        if self._closed or self._target is not target or self.held is not None:
            gone = rex.ConnectionError(
                self.held or f"the connection to {self.where} is closed or moved"
            )
            conn.close(gone)
            raise gone
        self._conns.append(conn)
        return conn

    async def _hello(self, conn: _Connection) -> None:
        """AUTH, SELECT and CLIENT SETNAME as the URL asks, in one write."""
        target = self._target
        commands: list[tuple[Arg, ...]] = []
        if target.password is not None:
            user = () if target.username is None else (target.username,)
            commands.append(("AUTH", *user, target.password))
        if target.db:
            commands.append(("SELECT", target.db))
        if target.client_name:
            commands.append(("CLIENT", "SETNAME", target.client_name))
        if self.master_only:
            commands.append(("ROLE",))
        if not commands:
            return
        futures = conn.send_many([_pack(c) for c in commands], False)
        async with asyncio.timeout(COMMAND_TIMEOUT):
            for future in futures:
                reply = await future
                if type(reply) is hiredis.ReplyError:
                    raise reply_error(reply)
        if self.master_only and (role := reply[0] if reply else b"") != b"master":
            why = rex.ReadOnlyError(
                f"READONLY {self.where} is a {role.decode(errors='replace')}, not the master"
            )
            self.trouble(why)
            raise why

    def forget(self, conn: _Connection) -> None:
        if conn in self._conns:
            self._conns.remove(conn)

    def trouble(self, why: BaseException) -> None:
        if self._on_trouble is not None and not self._closed:
            self._on_trouble(why)

    # -- following a master (plugins/redis_store/sentinel.py) -------------------------------
    def hold(self, reason: str | None) -> None:
        """Refuse commands with ``reason`` (dropping every connection, so commands in flight
        fail too) until ``hold(None)`` or :meth:`retarget`."""
        self.held = reason
        if reason is not None:
            self._drop(rex.ConnectionError(f"{reason}; not sent to {self.where}"))

    def retarget(self, url: str, where: str) -> None:
        """From now on connect to ``url``: drop every connection to the old address (their
        commands fail: their outcome is unknown, as for any lost connection)."""
        old = self.where
        self._target = _Target(url)
        self.where = where
        self._drop(rex.ConnectionError(f"the Redis master moved from {old} to {where}"))

    def _drop(self, why: BaseException) -> None:
        conns, self._conns = self._conns, []
        for conn in conns:
            conn.close(why)

    async def aclose(self) -> None:
        """Close every connection; pending commands fail with a ConnectionError."""
        self._closed = True
        for conn in list(self._conns):
            conn.close(rex.ConnectionError(f"the connection to {self.where} is closed"))
        self._conns = []


class Script:
    """A Lua script sent by ``EVALSHA``; sent again with ``EVAL`` (which loads it) when Redis
    answers ``NOSCRIPT`` (after ``SCRIPT FLUSH`` or a restart without persistence)."""

    def __init__(self, link: Link, source: str, *, bulky: bool = False) -> None:
        self.link = link
        self.source = source
        self.sha = hashlib.sha1(source.encode()).hexdigest()
        self.bulky = bulky

    async def __call__(self, keys: Sequence[Arg] = (), args: Sequence[Arg] = ()) -> Any:
        link = self.link
        if link.min_replicas:
            return await self._call_and_wait(keys, args)
        conns = link._conns
        if conns and not self.bulky and not (conn := conns[0]).bulky and len(conn.pending) < DEPTH:
            pass  # the common case of pick(): the first connection takes it
        else:
            conn = link.pick(self.bulky) or await link.open_for(self.bulky)
        reply = await conn.send(_pack(("EVALSHA", self.sha, len(keys), *keys, *args)), self.bulky)
        if type(reply) is hiredis.ReplyError:
            error = reply_error(reply)
            if not isinstance(error, rex.NoScriptError):
                raise error
            return await link.execute(
                "EVAL", self.source, len(keys), *keys, *args, bulky=self.bulky
            )
        return reply

    async def _call_and_wait(self, keys: Sequence[Arg], args: Sequence[Arg]) -> Any:
        """The script, then ``WAIT`` on the same connection (WAIT counts the replicas that
        have this connection's writes). Too few: an error, though the script ran -- its write
        may be lost in a failover, so it is not acknowledged."""
        link = self.link
        conn = link.pick(self.bulky) or await link.open_for(self.bulky)
        script = _pack(("EVALSHA", self.sha, len(keys), *keys, *args))
        wait = ("WAIT", link.min_replicas, link.wait_ms)
        reply, acked = await asyncio.gather(*conn.send_many([script, _pack(wait)], self.bulky))
        if type(reply) is hiredis.ReplyError:
            error = reply_error(reply)
            if not isinstance(error, rex.NoScriptError):
                raise error
            reply, acked = await link.many(
                [("EVAL", self.source, len(keys), *keys, *args), wait],
                bulky=self.bulky,
            )
        if type(acked) is hiredis.ReplyError:
            raise reply_error(acked)
        if acked < link.min_replicas:
            raise NotReplicated(
                f"the write reached {acked} of the {link.min_replicas} replica(s) required "
                f"(min_replicas) in {link.wait_ms} ms; it may be lost in a failover"
            )
        return reply


# -- where to connect ---------------------------------------------------------------------------


class _Target:
    """What a URL says, read by redis-py's ``parse_url`` and the connection class it names
    (constructed, never connected: it holds the TLS context and the credentials)."""

    def __init__(self, url: str) -> None:
        kwargs: dict[str, Any] = dict(parse_url(url))
        kwargs.pop("protocol", None)  # the Link speaks RESP2 whatever the URL says
        cls: type[AbstractConnection] = kwargs.pop("connection_class", Connection)
        conn = cls(**kwargs)
        self.path: str | None = kwargs.get("path")
        self.host = str(getattr(conn, "host", "localhost"))
        self.port = int(getattr(conn, "port", 6379))
        self.tls = conn if isinstance(conn, SSLConnection) else None
        self.username: str | None = conn.username
        self.password: str | None = conn.password
        self.db = int(conn.db or 0)
        self.client_name: str | None = conn.client_name

    def ssl_context(self) -> ssl.SSLContext | None:
        return None if self.tls is None else self.tls.ssl_context.get()
