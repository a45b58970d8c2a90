"""Feature storage on the memory store: a feature's state kept in the snapshot and the journal.

A feature plugin (batches, unique locks, tracking, throttles) keeps its state in an object of
its own that follows :class:`ExtensionState`, and attaches it with
``MemoryStore.extension(name, state)``. The handle it gets back journals each change the way the
store journals its own: ``check()`` before changing anything (a journal that cannot be written
answers ``-ERR``, not ``+OK``), change the state, then ``await log(op, *args)`` before replying.
At start-up the journal is replayed before any plugin has attached, so records and snapshot
state of a feature not attached yet are held as they are and handed over when it attaches
(and saved again meanwhile: a feature switched off for a while loses nothing).

Records and dumps hold JSON values only (str, int, float, bool, None, lists, dicts with string
keys): the snapshot is JSON and the journal loads plain values only.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import attrs

__all__ = ["Dormant", "Extension", "ExtensionState"]


class ExtensionState(Protocol):
    """What a feature's in-memory state offers the store."""

    def dump(self) -> Any:
        """The whole state as a JSON value, for the snapshot."""

    def load(self, data: Any) -> None:
        """Replace the state with a :meth:`dump` read back from the snapshot."""

    def apply(self, op: str, args: tuple[Any, ...]) -> None:
        """Replay one journaled change: the same code the live change ran, with its values."""

    def clear(self) -> None:
        """FLUSH: forget everything."""


@attrs.define(eq=False)
class Extension:
    """A feature's handle on the memory store's journal."""

    name: str
    state: ExtensionState
    _check: Callable[[], None]
    _log: Callable[..., Awaitable[None]]

    def check(self) -> None:
        """Raise (the command answers ``-ERR``) when the journal cannot take a change now."""
        self._check()

    async def log(self, op: str, *args: Any) -> None:
        """Journal a change already made to ``state``; returns once it is written."""
        await self._log("X", self.name, op, list(args))


@attrs.define
class Dormant:
    """A feature's saved state and journal records, held until its plugin attaches."""

    state: Any = None
    records: list[list[Any]] = attrs.field(factory=list)

    def hand_over(self, state: ExtensionState) -> None:
        if self.state is not None:
            state.load(self.state)
        for op, args in self.records:
            state.apply(op, tuple(args))
