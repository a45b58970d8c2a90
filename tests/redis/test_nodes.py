"""This server's own count of its connections per worker (plugins/redis_store/nodes.py)."""

from __future__ import annotations

from faktory_core.model import WorkerInfo, WorkerState
from faktory_core.plugins.redis_store.nodes import Mine


def test_counts_and_the_last_record_seen() -> None:
    mine = Mine()
    mine.connected(WorkerInfo("w"))
    mine.connected(WorkerInfo("w"))
    mine.seen(WorkerInfo("w", state=WorkerState.QUIET))
    mine.seen(WorkerInfo("stranger"))  # not connected here: not kept
    assert [(r.wid, r.state, n) for r, n in mine] == [("w", WorkerState.QUIET, 2)]
    assert mine.disconnected("w")
    assert mine.disconnected("w")
    assert list(mine) == []


def test_a_disconnect_never_counted_here_counts_nothing_down() -> None:
    assert not Mine().disconnected("w")  # e.g. a HELLO whose registration failed


def test_connections_from_before_a_reap_are_stale() -> None:
    mine = Mine()
    mine.connected(WorkerInfo("w"))
    mine.connected(WorkerInfo("w"))
    mine.reaped("w")
    mine.connected(WorkerInfo("w"))  # registered again
    # Two disconnects use up the stale ones, whichever connections they are; the third counts.
    assert [mine.disconnected("w") for _ in range(3)] == [False, False, True]
    assert list(mine) == []
