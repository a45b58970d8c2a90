"""Issue 13 item 8, the glob: a MUTATE whose ``regexp`` is 400 KB cost 3 s of pattern
compilation on the event loop. It is refused by length now, on both stores, over a real socket;
the server stays up, every job stays where it was, and a glob at the limit still works."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from faktory_core.glob import MAX_GLOB_BYTES
from faktory_core.model import SortedSet
from faktory_core.protocol import ErrorReply, SimpleString
from faktory_core.timefmt import format_ts

# tests/ is no package: a relative import is the way to share the Redis test helpers.
from ..redis import either_store  # noqa: TID252
from ..redis.either_store import Running, alive, job  # noqa: TID252

module_redis = either_store.module_redis
serve = either_store.serve

OK = SimpleString("OK")


def mutate(glob: str) -> dict[str, object]:
    return {"cmd": "kill", "target": "scheduled", "filter": {"regexp": glob}}


@pytest.mark.parametrize("size", [400_000, 16 * 1024 * 1024 - 200, MAX_GLOB_BYTES + 1])
def test_a_huge_glob_is_refused_and_nothing_moves(serve: Callable[..., Running], size: int) -> None:
    running = serve()
    conn = running.conn()
    later = {"at": format_ts(running.clock.now() + 3600)}
    scheduled = [job(**later) for _ in range(5)]
    for item in scheduled:
        assert conn.json_command("PUSH", item) == OK
    glob = "*" + "a*" * ((size - 1) // 2)
    reply = conn.json_command("MUTATE", mutate(glob))
    assert reply == ErrorReply(
        "ERR", f"regexp is {len(glob)} bytes long: at most {MAX_GLOB_BYTES} bytes are accepted"
    )
    assert {j.jid for j in running.set_jobs(SortedSet.SCHEDULED)} == {i["jid"] for i in scheduled}
    assert running.set_jobs(SortedSet.DEAD) == []
    # The same connection goes on, and a glob at the limit works.
    target = scheduled[2]["jid"]
    glob = f"*{target}*".ljust(MAX_GLOB_BYTES, "*")
    assert conn.json_command("MUTATE", mutate(glob)) == OK
    assert [j.jid for j in running.set_jobs(SortedSet.DEAD)] == [target]
    assert len(running.set_jobs(SortedSet.SCHEDULED)) == 4
    conn.close()
    alive(running)
