"""Blocked FETCHes without busy polling: one listener per store, one event per waiting fetch.

A FETCH that finds nothing waits on an :class:`anyio.Event` with the store's clock (its
timeout is clock time). Nothing it does talks to Redis while it waits, so 2,000 idle workers
cost 2,000 events, not 2,000 connections.

One :class:`Listener` task per store is subscribed to the store's pub/sub channel. The scripts
publish ``"<queue> <count>"`` when jobs land in an empty queue (or a queue is resumed), from any
server sharing the Redis. The listener wakes that many waiters of that queue, longest waiting
first -- not all of them, so one job does not send 2,000 fetch scripts to Redis.

A woken fetch that finds more jobs behind the one it took wakes more waiters of that queue
(:meth:`Wakeups.notify` from the store), and one that was woken for a queue but took a job from
another passes its wake-up on. A message can still be lost (the subscription drops and comes
back); every :data:`POLL_SECONDS` the listener asks Redis which waited-on queues have jobs and
wakes their waiters, and it wakes every waiter after re-subscribing. So a job pushed anywhere
reaches a waiting fetch within about one round trip, and at worst within POLL_SECONDS.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import anyio
import redis.exceptions as rex
from redis.asyncio import Redis

from faktory_core.plugins.redis_store.background import Background

__all__ = ["POLL_SECONDS", "Listener", "Waiter", "Wakeups"]

log = logging.getLogger("faktory_core.plugins.redis_store")

#: The fallback poll's period, in real seconds: the worst-case delay of a lost wake-up.
POLL_SECONDS = 1.0
#: Real seconds between attempts to re-subscribe after the subscription failed.
RETRY_SECONDS = (0.1, 0.5, 1.0, 2.0)

#: Which waited-on queues have jobs now: name → length.
Poll = Callable[[list[str]], Awaitable[dict[str, int]]]


class Waiter:
    """One blocked fetch: the queues it waits on and the event that wakes it."""

    __slots__ = ("event", "queues", "woken_for")

    def __init__(self, queues: Iterable[str]) -> None:
        self.queues = tuple(dict.fromkeys(queues))
        self.event = anyio.Event()
        self.woken_for: str | None = None


class Wakeups:
    """The waiting fetches of one store, per queue, in the order they started waiting."""

    def __init__(self) -> None:
        self._lines: dict[str, dict[Waiter, None]] = {}

    def __bool__(self) -> bool:
        return bool(self._lines)

    @property
    def queues(self) -> list[str]:
        return list(self._lines)

    def arm(self, waiter: Waiter) -> None:
        """Ready ``waiter`` for one more wait: a fresh event, at the back of its lines."""
        waiter.event = anyio.Event()
        waiter.woken_for = None
        for name in waiter.queues:
            line = self._lines.setdefault(name, {})
            line.pop(waiter, None)
            line[waiter] = None

    def discard(self, waiter: Waiter) -> None:
        for name in waiter.queues:
            line = self._lines.get(name)
            if line is not None:
                line.pop(waiter, None)
                if not line:
                    del self._lines[name]

    def notify(self, queue: str, count: int) -> None:
        """Wake up to ``count`` waiters of ``queue`` that are not awake already."""
        for waiter in self._lines.get(queue, {}):
            if count <= 0:
                return
            if not waiter.event.is_set():
                waiter.woken_for = queue
                waiter.event.set()
                count -= 1

    def notify_all(self) -> None:
        for name, line in list(self._lines.items()):
            self.notify(name, len(line))


def parse_message(data: bytes) -> tuple[str, int] | None:
    """``b"<queue> <count>"`` → (queue, count); None for anything else."""
    name, _, count = data.decode("utf-8", "replace").rpartition(" ")
    try:
        return (name, int(count)) if name else None
    except ValueError:
        return None


class Listener:
    """The store's one subscriber and fallback poller (see the module docstring)."""

    def __init__(
        self,
        client: Redis,
        channel: str,
        wakeups: Wakeups,
        poll: Poll,
        others: dict[str, Callable[[bytes], None]] | None = None,
    ) -> None:
        self._client = client
        self._channel = channel
        self._wakeups = wakeups
        self._poll = poll
        #: Further channels on the same subscription, each with what to do with a message.
        self._others = dict(others or {})
        self._pubsub: Any = None
        self._task = Background()

    async def start(self) -> None:
        """Subscribe (so no push after ``open()`` is missed), then listen in the background."""
        await self._subscribe()
        self._task.start(self._run())

    async def stop(self) -> None:
        await self._task.stop()
        await self._unsubscribe()

    async def switch(self, client: Redis) -> None:
        """Subscribe through ``client`` from now on (the Redis master moved): the old
        subscription is dropped, and the listener subscribes anew and wakes every waiter."""
        await self._task.stop()
        await self._unsubscribe()
        self._client = client
        self._task.start(self._run())

    async def _subscribe(self) -> None:
        pubsub: Any = self._client.pubsub(ignore_subscribe_messages=True)
        try:
            await pubsub.subscribe(self._channel, *self._others)
        except BaseException:
            await pubsub.aclose()
            raise
        self._pubsub = pubsub

    async def _unsubscribe(self) -> None:
        pubsub, self._pubsub = self._pubsub, None
        if pubsub is not None:
            with contextlib.suppress(rex.RedisError, OSError):
                await pubsub.aclose()

    async def _run(self) -> None:
        """Listen; when the subscription fails, keep polling while re-subscribing. Nothing but
        cancellation ends this task: a dead listener would leave fetches to their timeouts."""
        failures = 0
        while True:
            try:
                if self._pubsub is None:
                    await self._subscribe()
                    log.info("pub/sub subscription to %s is back", self._channel)
                    self._wakeups.notify_all()  # a push may have gone by unheard
                failures = 0
                await self._listen()
            except Exception as exc:
                if failures == 0:
                    expected = isinstance(exc, rex.RedisError | OSError)
                    log.warning(
                        "pub/sub subscription to %s lost: %s",
                        self._channel,
                        exc,
                        exc_info=not expected,
                    )
                await self._unsubscribe()
                await anyio.sleep(RETRY_SECONDS[min(failures, len(RETRY_SECONDS) - 1)])
                failures += 1
                await self._fallback_poll()

    async def _listen(self) -> None:
        polled = anyio.current_time()
        while True:
            message = await self._pubsub.get_message(
                ignore_subscribe_messages=True, timeout=POLL_SECONDS
            )
            if message is not None and message.get("type") == "message":
                self._dispatch(message)
            if anyio.current_time() - polled >= POLL_SECONDS:
                polled = anyio.current_time()
                await self._fallback_poll()

    def _dispatch(self, message: dict[str, Any]) -> None:
        channel = message.get("channel")
        name = channel.decode() if isinstance(channel, bytes) else str(channel)
        handler = self._others.get(name)
        if handler is not None:
            handler(message["data"])
            return
        parsed = parse_message(message["data"])
        if parsed is not None:
            self._wakeups.notify(*parsed)

    async def _fallback_poll(self) -> None:
        """Wake waiters of queues that have jobs. A failure here (Redis is away) is the
        subscription's business: the fetches themselves report it."""
        if not self._wakeups:
            return
        try:
            ready = await self._poll(self._wakeups.queues)
        except Exception as exc:
            log.debug("fallback poll failed: %s", exc)
            return
        for name, length in ready.items():
            self._wakeups.notify(name, length)
