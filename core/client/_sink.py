"""Where pushes go while a testing mode is on (:mod:`faktory_core.testing.jobs`).

The clients check :data:`current` before every push and batch command: None (the normal case)
sends to the server; otherwise the sink records the jobs or runs them (and keeps the batches),
and no connection is opened.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from faktory_core.client.errors import ServerError
from faktory_core.client.job import Job


class PushSink(Protocol):
    def push(self, jobs: Sequence[Job]) -> dict[str, str]:
        """Take jobs pushed by a blocking client; the result is PUSHB's errors map."""
        ...

    async def apush(self, jobs: Sequence[Job]) -> dict[str, str]:
        """Take jobs pushed by an async client."""
        ...

    def batch(self, op: str, arg: Any) -> Any:
        """``BATCH <op>`` from a blocking client: ``NEW`` (the definition dict) answers the
        bid, ``OPEN`` (a bid) the bid, ``COMMIT`` None, ``STATUS`` the status dict; an
        unknown bid raises :class:`ServerError` as the server's ``-ERR`` would."""
        ...

    async def abatch(self, op: str, arg: Any) -> Any:
        """The same from an async client."""
        ...


current: PushSink | None = None


def refused(errors: dict[str, str]) -> None:
    """A single push's answer from a sink: raise what the server would have answered (PUSHB's
    error text is ``CODE message``, or just the message for ``ERR``)."""
    for text in errors.values():
        code, _, message = text.partition(" ")
        if not (code.isupper() and code.isalpha() and message):
            code, message = "ERR", text
        raise ServerError(code, message)
