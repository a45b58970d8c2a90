"""FETCHes that failed after their script may have run: find the job each reserved and put it
back at the head of its queue (issue 13: with Redis hung, a FETCH that answered -ERR left its
job reserved for nobody until ``reserve_for`` ran out, 30 minutes by default).

When the fetch script's reply does not come (Redis hung past the link's timeout, the connection
dropped, or the FETCH was cancelled), the script may still run once Redis reads it. Its
reservation is recognisable: the member holds the ``reserved_at`` stamp (microseconds) and the
``wid`` of that FETCH. :class:`LostFetches` remembers both; the store retries every
:data:`UNDO_EVERY` seconds: it reads ``working`` a page at a time and puts each matching
reservation back (the same script as an unreserve, so only a reservation still exactly as
written moves). A FETCH is forgotten once found, or :data:`UNDO_GRACE` seconds after Redis first
answered the search without it (its script never ran, or ran and was undone by someone else).
"""

from __future__ import annotations

import time

import attrs

__all__ = ["UNDO_EVERY", "UNDO_GRACE", "LostFetch", "LostFetches"]

#: Seconds between searches while some failed FETCH is not found yet.
UNDO_EVERY = 1.0
#: Seconds of Redis answering, without the reservation showing up, before a FETCH is forgotten.
UNDO_GRACE = 30.0


@attrs.frozen
class LostFetch:
    """The parts of the reservation member a failed FETCH's script would have written."""

    reserved_at: bytes
    tail: bytes

    @classmethod
    def of(cls, stamp: str, wid_json: bytes) -> LostFetch:
        return cls(
            b',"reserved_at":"' + stamp.encode() + b'","expires_at":"',
            b'","wid":' + wid_json + b"}",
        )

    def matches(self, member: bytes) -> bool:
        return member.endswith(self.tail) and self.reserved_at in member


@attrs.define(eq=False)
class LostFetches:
    """Failed FETCHes to look for, each with the time Redis first answered a search (or None)."""

    _pending: dict[LostFetch, float | None] = attrs.field(factory=dict)

    def __bool__(self) -> bool:
        return bool(self._pending)

    def __len__(self) -> int:
        return len(self._pending)

    def add(self, lost: LostFetch) -> None:
        self._pending.setdefault(lost, None)

    def match(self, member: bytes) -> LostFetch | None:
        for lost in self._pending:
            if lost.matches(member):
                return lost
        return None

    def found(self, lost: LostFetch) -> None:
        self._pending.pop(lost, None)

    def searched(self) -> None:
        """A whole search went through without finding the rest: start or run out their grace."""
        now = time.monotonic()
        for lost, since in list(self._pending.items()):
            if since is None:
                self._pending[lost] = now
            elif now - since >= UNDO_GRACE:
                del self._pending[lost]
