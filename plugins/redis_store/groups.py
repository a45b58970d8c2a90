"""Large groups of sorted-set entries that share one score, kept for a moment.

An entry is addressed by ``<score>|<jid>``, so finding one means reading every member with its
score (``ZRANGEBYSCORE score score``) and picking the jid. A MUTATE kill gives everything it
moves one score, so acting on such a group 500 keys at a time used to read the whole group once
per chunk: 100,000 entries, 200 reads of 100,000 members.

:class:`Groups` keeps the last large group read for an action, indexed by the jids written in
its members, for a few seconds. It is used only to *act* on entries (remove, requeue, kill),
never to show one, and checked before each use:

- the group's size in Redis (``ZCOUNT score score``) must still be the kept one, less the members
  acted on since; otherwise (an entry added, say a second copy of a jid) it is read again;
- every script that acts re-checks each member it is given: still there, with the score it was
  seen with; so a member moved or re-scored since is only "not moved";
- a jid the kept group does not know is read from Redis again.

Members acted on are dropped from it, and the whole group is let go after KEEP_SECONDS even if
nothing asks for it again, so a large group does not stay in memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import Callable, Iterable

import attrs

#: Groups with fewer members are read each time (one cheap read); larger ones are kept.
KEEP_FROM = 1000
#: Real seconds a kept group is used before it is read again.
KEEP_SECONDS = 10.0

_JID_KEY = re.compile(rb'"jid":"([^"\\]*)"')

Pair = tuple[bytes, float]


def jids_written(member: bytes) -> list[bytes] | None:
    """Every jid text written ``"jid":"<plain text>"`` in a member, or None when that is not
    certain (an escape, or a ``"jid"`` written another way): such a member must be decoded."""
    if b"\\" in member:
        return None
    found = _JID_KEY.findall(member)
    return found if len(found) == member.count(b'"jid"') else None


@attrs.define
class _Group:
    name: str
    score: float
    by_jid: dict[bytes, list[Pair]]
    unsure: list[Pair]  # members whose jids are not certain: always candidates
    members: set[bytes]  # all it holds: their number is what ZCOUNT must answer
    until: float


@attrs.define
class Groups:
    """The one kept group (a store acts on one large group at a time)."""

    clock: Callable[[], float] = time.monotonic
    _kept: _Group | None = None
    _timer: asyncio.TimerHandle | None = None

    def candidates(
        self, name: str, score: float, jids: set[bytes]
    ) -> tuple[list[Pair], int] | None:
        """The kept members that may be these jids' entries, and the group's size Redis must
        still report; None when the group is not kept (or no longer) or lacks one of the jids."""
        group = self._kept
        if group is None or (group.name, group.score) != (name, score):
            return None
        if self.clock() > group.until or not jids <= group.by_jid.keys():
            self.forget()
            return None
        found = {pair for jid in jids for pair in group.by_jid[jid]}
        return [*found, *group.unsure], len(group.members)

    def forget(self) -> None:
        self._kept = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def keep(self, name: str, score: float, pairs: list[Pair]) -> None:
        """Keep a group just read, if it is large."""
        if len(pairs) < KEEP_FROM:
            return
        by_jid: dict[bytes, list[Pair]] = {}
        unsure: list[Pair] = []
        for pair in pairs:
            written = jids_written(pair[0])
            if written is None:
                unsure.append(pair)
            for jid in written or ():
                by_jid.setdefault(jid, []).append(pair)
        members = {member for member, _ in pairs}
        self.forget()
        self._kept = _Group(name, score, by_jid, unsure, members, self.clock() + KEEP_SECONDS)
        with contextlib.suppress(RuntimeError):  # outside an event loop: checked on use only
            self._timer = asyncio.get_running_loop().call_later(KEEP_SECONDS, self.forget)

    def acted_on(self, name: str, members: Iterable[bytes]) -> None:
        """Members just removed, moved or found gone: no longer in the group."""
        group = self._kept
        if group is None or group.name != name:
            return
        for member in members:
            group.members.discard(member)
            written = jids_written(member)
            if written is None:
                group.unsure = [pair for pair in group.unsure if pair[0] != member]
            for jid in written or ():
                left = [pair for pair in group.by_jid.get(jid, ()) if pair[0] != member]
                if left:
                    group.by_jid[jid] = left
                else:
                    group.by_jid.pop(jid, None)
