"""Where pushes go while a testing mode is on (:mod:`faktory_core.testing.jobs`).

The clients check :data:`current` before every push: None (the normal case) sends to the
server; otherwise the sink records the jobs or runs them, and no connection is opened.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from faktory_core.client.job import Job


class PushSink(Protocol):
    def push(self, jobs: Sequence[Job]) -> dict[str, str]:
        """Take jobs pushed by a blocking client; the result is PUSHB's errors map."""
        ...

    async def apush(self, jobs: Sequence[Job]) -> dict[str, str]:
        """Take jobs pushed by an async client."""
        ...


current: PushSink | None = None
