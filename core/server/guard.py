"""What keeps one client, or the machine, from stopping the server (docs/running.md, "Limits").

- :func:`raise_fd_limit`: the soft ``RLIMIT_NOFILE`` raised to the hard limit at start, as Go's
  runtime does for Faktory;
- :func:`accept_forever`: an accept loop that backs off on ``EMFILE``/``ENFILE`` (and any other
  accept error) instead of letting it end the listener, logging once per burst;
- :class:`AuthFailures`: failed authentications per address, for a growing delay before the
  ``-ERR Invalid password`` and a rate-limited log line;
- :func:`peer_name` and :func:`enable_keepalive` for accepted sockets.
"""

from __future__ import annotations

import collections
import ctypes
import ctypes.util
import logging
import math
import resource
import socket
from collections.abc import Callable, Coroutine
from typing import Any

import anyio
import anyio.abc
import attrs

__all__ = [
    "AuthFailures",
    "accept_forever",
    "enable_keepalive",
    "peer_name",
    "raise_fd_limit",
    "release_memory",
]

log = logging.getLogger("faktory_core.server")

#: The accept loop's back-off after a failed accept: doubled per failure, as Go's net/http.
ACCEPT_BACKOFF_MIN = 0.005
ACCEPT_BACKOFF_MAX = 1.0
#: TCP keepalive as Go enables it on accepted connections: probe after 15 s idle, every 15 s.
KEEPALIVE_SECONDS = 15
#: Failed authentications: the first waits this long before its reply, each next one twice
#: as long, up to AUTH_DELAY_MAX; an address quiet for AUTH_FORGET seconds starts again.
AUTH_DELAY_MIN = 0.1
AUTH_DELAY_MAX = 5.0
AUTH_FORGET = 600.0
#: Addresses remembered at once (least recently failed forgotten first): bounded memory.
AUTH_TABLE_SIZE = 4096
#: At most one "authentication failed" line per this many seconds; the rest are counted.
AUTH_LOG_EVERY = 1.0


def _malloc_trim() -> Callable[[int], int] | None:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        trim: Callable[[int], int] = libc.malloc_trim
    except (OSError, AttributeError):
        return None  # not glibc
    return trim


_TRIM = _malloc_trim()


def release_memory() -> None:
    """Give freed heap memory back to the system (glibc keeps a connection's megabytes of
    buffer otherwise, so RSS would stay at its peak after the connection closed)."""
    if _TRIM is not None:
        _TRIM(0)


def raise_fd_limit() -> None:
    """Raise the soft limit on open files to the hard limit (systemd's soft default is 1024,
    below the 2,000 connections a server accepts); log what it did."""
    try:
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if hard == resource.RLIM_INFINITY or soft == resource.RLIM_INFINITY or soft >= hard:
            log.debug("open-file limit: %s (hard %s)", soft, hard)
            return
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    except (OSError, ValueError) as exc:
        log.warning("could not raise the open-file limit: %s", exc)
        return
    log.info("raised the open-file limit from %d to %d", soft, hard)


async def accept_forever(
    listener: anyio.abc.SocketListener,
    handle: Callable[[anyio.abc.SocketStream], Coroutine[Any, Any, None]],
    task_group: anyio.abc.TaskGroup,
) -> None:
    """Accept connections until the listener is closed, each handled in ``task_group``.

    An accept that fails (out of file descriptors, or any other ``OSError``) never ends the
    loop: it waits (5 ms, doubling up to 1 s) and tries again, logging the first failure of a
    burst and, when accepts work again, how many failed.
    """
    failures = 0
    while True:
        try:
            stream = await listener.accept()
        except OSError as exc:
            if not failures:
                log.error("cannot accept connections: %s; backing off until it clears", exc)
            failures += 1
            await anyio.sleep(_backoff(failures))
            continue
        if failures:
            log.warning("accepting connections again after %d failed accepts", failures)
            failures = 0
        task_group.start_soon(handle, stream)


def _backoff(failures: int) -> float:
    return float(min(ACCEPT_BACKOFF_MIN * 2 ** min(failures - 1, 16), ACCEPT_BACKOFF_MAX))


def peer_name(stream: anyio.abc.ByteStream) -> str:
    """``host:port`` of the remote end, for log lines; ``?`` when it cannot be known."""
    try:
        address = stream.extra(anyio.abc.SocketAttribute.remote_address)
    except Exception:
        return "?"
    if isinstance(address, tuple):
        host, port = address[0], address[1]
        return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"
    return str(address) or "?"


def peer_host(peer: str) -> str:
    """The address part of :func:`peer_name` (failed authentications are counted by host)."""
    host, _, _ = peer.rpartition(":")
    return host or peer


def enable_keepalive(stream: anyio.abc.ByteStream) -> None:
    """TCP keepalive on an accepted socket, so a half-open peer is noticed (as Go does)."""
    try:
        sock = stream.extra(anyio.abc.SocketAttribute.raw_socket)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        for name in ("TCP_KEEPIDLE", "TCP_KEEPINTVL"):
            option = getattr(socket, name, None)
            if option is not None:
                sock.setsockopt(socket.IPPROTO_TCP, option, KEEPALIVE_SECONDS)
    except (OSError, anyio.TypedAttributeLookupError):
        pass  # not a TCP socket, or already closed: nothing to keep alive


@attrs.define
class AuthFailures:
    """Failed authentications by address: how long to wait before answering the next one,
    and whether a log line may be written now. Memory is bounded by ``size`` addresses."""

    size: int = AUTH_TABLE_SIZE
    #: host → (failures in a row, time of the last one)
    _table: collections.OrderedDict[str, tuple[int, float]] = attrs.field(
        factory=collections.OrderedDict
    )
    _logged_at: float = -math.inf
    _unlogged: int = 0

    def failed(self, host: str, now: float) -> tuple[int, float]:
        """Record a failure; returns (failures in a row from ``host``, delay before replying)."""
        count, last = self._table.pop(host, (0, now))
        if now - last > AUTH_FORGET:
            count = 0
        count += 1
        self._table[host] = (count, now)
        while len(self._table) > self.size:
            self._table.popitem(last=False)
        return count, min(AUTH_DELAY_MIN * 2 ** min(count - 1, 32), AUTH_DELAY_MAX)

    def succeeded(self, host: str) -> None:
        self._table.pop(host, None)

    def may_log(self, now: float) -> int | None:
        """None if a line was written less than a second ago (this failure is counted); else
        how many failures went unlogged since the last line."""
        if now - self._logged_at < AUTH_LOG_EVERY:
            self._unlogged += 1
            return None
        self._logged_at = now
        unlogged, self._unlogged = self._unlogged, 0
        return unlogged

    def __len__(self) -> int:
        return len(self._table)
