"""Group commit: calls of one script that arrive in the same event-loop pass go as one call.

Several connections' ACKs (or FETCHes, or PUSHes) that the server handles in one pass of the
event loop each used to be one ``EVALSHA``: Redis paid its per-call cost (the script's set-up,
``KEYS``/``ARGV`` tables, the ``MULTI``/``EXEC`` around its effects in the AOF) once per
command. A :class:`Grouped` collects the calls made during one pass, per key (calls with the same
key can share one script call: the same queues, the same day counter), and sends each key's
calls as one script call when the pass ends; the script answers one result per call, in order,
and each caller gets its own.

What stays exact:

- **Each caller's answer is its own.** The script answers a list with one entry per call; an
  entry may be an error reply (the script catches per-call errors with ``redis.pcall``), which
  only that caller raises. A failure of the whole call (the connection, a timeout, ``OOM`` before
  the script ran) is raised by every caller, as each single call would have raised it.
- **Order.** Calls go into the script in the order they were made. A connection of the server
  has one command in flight at a time, so no connection has two calls in one group.
- **Atomicity per call.** The script makes each call's moves as the single-call script did; a
  group is a sequence of such steps (atomic as a whole, as every script is).
- **Cancellation.** A call that was made is sent, as a single call already was once its command
  was queued on the Link; its caller treats the cancellation as it did before (a FETCH that may
  have run is undone, see :mod:`.undo`).

The call costs one event-loop pass of latency only when it is alone; Redis answers the group in
about the time it answered its first call.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Hashable, Sequence
from typing import Any, Generic, TypeVar

import hiredis
import redis.exceptions as rex

from faktory_core.plugins.redis_store.link import Arg, Script, reply_error

_pack: Callable[[Sequence[Arg]], bytes] = hiredis.pack_command  # type: ignore[assignment]

__all__ = ["Grouped", "entry_error"]

Item = TypeVar("Item")

#: (keys, args) of the script call for one key's items.
Build = Callable[[Hashable, Sequence[Item]], tuple[Sequence[Arg], Sequence[Arg]]]
#: The script's reply for ``n`` items -> one result per item (an exception to raise, or a value).
Split = Callable[[Any, int], Sequence[Any]]


class Grouped(Generic[Item]):
    """One script, called for many items at once (module docstring)."""

    def __init__(self, script: Script, build: Build[Item], split: Split, limit: int) -> None:
        self._script = script
        self._build = build
        self._split = split
        #: Items per script call, at most: more in one pass make several calls.
        self._limit = limit
        self._pending: dict[Hashable, list[tuple[Item, asyncio.Future[Any]]]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    async def __call__(self, key: Hashable, item: Item) -> Any:
        """The result of ``item``'s part of the group's script call."""
        loop = self._script.link.loop
        future: asyncio.Future[Any] = loop.create_future()
        if not self._pending:
            loop.call_soon(self._go)
        calls = self._pending.get(key)
        if calls is None:
            calls = self._pending[key] = []
        calls.append((item, future))
        return await future

    def _go(self) -> None:
        pending, self._pending = self._pending, {}
        for key, calls in pending.items():
            for start in range(0, len(calls), self._limit):
                self._send(key, calls[start : start + self._limit])

    def _send(self, key: Hashable, calls: list[tuple[Item, asyncio.Future[Any]]]) -> None:
        keys, args = self._build(key, [item for item, _ in calls])
        script = self._script
        conn = script.link.pick(script.bulky)
        if conn is None:  # no connection open yet: the Script opens one
            self._in_task(calls, keys, args)
            return
        try:
            sent = conn.send(_pack(("EVALSHA", script.sha, len(keys), *keys, *args)), script.bulky)
        except Exception as exc:  # the connection is closed
            _fail(calls, exc)
            return
        sent.add_done_callback(lambda done: self._answered(done, calls, keys, args))
        conn.flush()  # this is the end of the pass already: not one more pass of latency

    def _answered(
        self,
        done: asyncio.Future[Any],
        calls: list[tuple[Item, asyncio.Future[Any]]],
        keys: Sequence[Arg],
        args: Sequence[Arg],
    ) -> None:
        if done.cancelled():
            _fail(calls, asyncio.CancelledError())
            return
        failed = done.exception()
        if failed is not None:
            _fail(calls, failed)
            return
        reply = done.result()
        if type(reply) is hiredis.ReplyError:
            error = reply_error(reply)
            if isinstance(error, rex.NoScriptError):  # did not run: the Script sends its source
                self._in_task(calls, keys, args)
            else:
                _fail(calls, error)
            return
        self._deliver(calls, reply)

    def _deliver(self, calls: list[tuple[Item, asyncio.Future[Any]]], reply: Any) -> None:
        try:
            results = self._split(reply, len(calls))
        except Exception as exc:  # not the reply the script gives: a bug, raised by every caller
            _fail(calls, exc)
            return
        for (_, future), result in zip(calls, results, strict=True):
            if future.done():
                continue
            if isinstance(result, BaseException):
                future.set_exception(result)
            else:
                future.set_result(result)

    def _in_task(
        self,
        calls: list[tuple[Item, asyncio.Future[Any]]],
        keys: Sequence[Arg],
        args: Sequence[Arg],
    ) -> None:
        task = self._script.link.loop.create_task(self._call(calls, keys, args))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _call(
        self,
        calls: list[tuple[Item, asyncio.Future[Any]]],
        keys: Sequence[Arg],
        args: Sequence[Arg],
    ) -> None:
        try:
            reply = await self._script(keys=keys, args=args)
        except BaseException as exc:
            _fail(calls, exc)
            if not isinstance(exc, Exception):
                raise
            return
        self._deliver(calls, reply)


def _fail(calls: list[tuple[Any, asyncio.Future[Any]]], error: BaseException) -> None:
    for _, future in calls:
        if not future.done():
            if isinstance(error, asyncio.CancelledError):
                future.cancel()
            else:
                future.set_exception(_copy(error))
            if not future.cancelled():
                future.exception()  # retrieved: a caller that gave up does not log it


def _copy(error: BaseException) -> BaseException:
    """A copy of ``error`` for one caller (one exception raised in many tasks would collect
    all their tracebacks)."""
    try:
        return type(error)(*error.args)
    except Exception:
        return error


def entry_error(entry: Any) -> BaseException | None:
    """An entry of a group reply that is an error reply, as the exception to raise."""
    return reply_error(entry) if type(entry) is hiredis.ReplyError else None
