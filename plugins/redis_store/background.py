"""The store's background tasks: the pub/sub listener, the node beat and the undoing of
failed FETCHes (:mod:`.undo`).

Each is a plain asyncio task, not a child of the server's task group: a store has no task
group of its own (the Store protocol has none to give it), and redis-py's client runs on asyncio
only. The store starts them in ``open()`` and cancels them in ``close()``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine
from typing import Any


class Background:
    """At most one running task, cancelled and awaited by :meth:`stop`."""

    def __init__(self) -> None:
        self._task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self, work: Coroutine[Any, Any, None]) -> None:
        self._task = asyncio.get_running_loop().create_task(work)

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
