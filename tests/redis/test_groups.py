"""Acting on a large group of same-score entries chunk by chunk reads the group from Redis once
(plugins/redis_store/groups.py), and the kept group is never trusted beyond what the scripts
re-check: entries moved by another server are "not moved", and showing an entry reads Redis."""

from __future__ import annotations

import json

import anyio
import pytest
import redis

from faktory_core.model import SortedSet
from faktory_core.plugins.redis_store import RedisStore
from faktory_core.plugins.redis_store import groups as groups_module
from faktory_core.plugins.redis_store.codec import fstr
from faktory_core.plugins.redis_store.groups import KEEP_FROM, KEEP_SECONDS, Groups, jids_written
from faktory_core.testing.contract import make_job

SCORE = 7.0
SIZE = 2 * KEEP_FROM + 500
CHUNK = 500


@pytest.fixture
def raw(redis_url: str) -> redis.Redis:
    return redis.Redis.from_url(redis_url)


def _fill(raw: redis.Redis, count: int, which: str = "retries") -> list[str]:
    """``count`` jobs in one set, all with one score, as a MUTATE kill leaves them; their keys."""
    jobs = [make_job(jid=f"group-{n:07d}") for n in range(count)]
    raw.zadd(which, {job.encode(): SCORE for job in jobs})
    return [f"{fstr(SCORE)}|{job.jid}" for job in jobs]


def _range_reads(raw: redis.Redis) -> int:
    stats = raw.info("commandstats").get("cmdstat_zrangebyscore", {})
    return int(stats.get("calls", 0))


async def test_a_large_group_is_read_once_for_all_its_chunks(
    pair: tuple[RedisStore, RedisStore], raw: redis.Redis
) -> None:
    store, _ = pair
    keys = _fill(raw, SIZE)
    raw.config_resetstat()
    moved = 0
    for start in range(0, SIZE, CHUNK):
        moved += await store.set_kill(SortedSet.RETRIES, keys[start : start + CHUNK], 99.0)
    assert moved == SIZE
    assert (raw.zcard("retries"), raw.zcard("dead")) == (0, SIZE)
    assert _range_reads(raw) == 1


async def test_entries_moved_by_another_server_are_not_moved_twice(
    pair: tuple[RedisStore, RedisStore], raw: redis.Redis
) -> None:
    a, b = pair
    keys = _fill(raw, SIZE)
    assert await a.set_remove(SortedSet.RETRIES, keys[:CHUNK]) == CHUNK  # a keeps the group
    taken = keys[CHUNK : CHUNK + 10]
    assert await b.set_enqueue(SortedSet.RETRIES, taken, 1.0) == 10
    # a's kept members for those ten are gone from Redis: ZREM answers 0, nothing moves twice.
    assert await a.set_kill(SortedSet.RETRIES, keys[CHUNK : 2 * CHUNK], 99.0) == CHUNK - 10
    assert raw.llen("q:default") == 10
    assert raw.zcard("dead") == CHUNK - 10
    # Showing an entry always reads Redis, never the kept group.
    assert await a.set_get(SortedSet.RETRIES, taken[0]) is None
    assert await a.set_get(SortedSet.RETRIES, keys[-1]) is not None


async def test_a_jid_the_kept_group_lacks_is_read_again(
    pair: tuple[RedisStore, RedisStore], raw: redis.Redis
) -> None:
    a, b = pair
    keys = _fill(raw, SIZE)
    assert await a.set_remove(SortedSet.RETRIES, keys[:CHUNK]) == CHUNK
    late = make_job(jid="arrived-late-01")
    await b.set_add(SortedSet.RETRIES, SCORE, late)
    raw.config_resetstat()
    assert await a.set_remove(SortedSet.RETRIES, [f"{fstr(SCORE)}|{late.jid}"]) == 1
    assert _range_reads(raw) == 1
    # An entry already acted on is read again too (it may have come back): still gone, 0.
    assert await a.set_remove(SortedSet.RETRIES, keys[:1]) == 0


def test_groups_keep_only_large_groups_for_a_while() -> None:
    now = [100.0]
    groups = Groups(clock=lambda: now[0])
    small = [(json.dumps({"jid": f"s{n}"}).replace(" ", "").encode(), 1.0) for n in range(10)]
    groups.keep("retries", 1.0, small)
    assert groups.candidates("retries", 1.0, {b"s1"}) is None

    members = [(f'{{"jid":"j{n}","args":[]}}'.encode(), 2.0) for n in range(KEEP_FROM)]
    odd = (b'{"j\\u0069d":"j-escaped"}', 2.0)  # its jid is not certain without decoding
    groups.keep("retries", 2.0, [*members, odd])
    assert groups.candidates("retries", 2.0, {b"j1", b"j2"}) is not None
    found = groups.candidates("retries", 2.0, {b"j1"})
    assert found is not None
    assert (set(found[0]), found[1]) == ({members[1], odd}, KEEP_FROM + 1)
    assert groups.candidates("dead", 2.0, {b"j1"}) is None
    assert groups.candidates("retries", 3.0, {b"j1"}) is None
    assert groups.candidates("retries", 2.0, {b"unknown"}) is None  # and the group is dropped
    assert groups.candidates("retries", 2.0, {b"j1"}) is None

    groups.keep("retries", 2.0, [*members, odd])
    groups.acted_on("retries", [members[1][0], odd[0]])
    assert groups.candidates("retries", 2.0, {b"j3"}) == ([members[3]], KEEP_FROM - 1)
    now[0] += KEEP_SECONDS + 1
    assert groups.candidates("retries", 2.0, {b"j3"}) is None

    groups.keep("retries", 2.0, members)
    groups.acted_on("retries", [members[1][0]])
    assert groups.candidates("retries", 2.0, {b"j1"}) is None  # acted on: read Redis again


@pytest.mark.parametrize(
    ("member", "written"),
    [
        (b'{"jid":"a","args":[]}', [b"a"]),
        (b'{"custom":{"jid":"x"},"jid":"b"}', [b"x", b"b"]),
        (b'{"jid" : "b"}', None),
        (b'{"j\\u0069d":"b"}', None),
        (b'{"jid":"a","args":["jid"]}', None),
    ],
)
def test_jids_written(member: bytes, written: list[bytes] | None) -> None:
    assert jids_written(member) == written


async def test_an_entry_added_since_is_not_missed(
    pair: tuple[RedisStore, RedisStore], raw: redis.Redis
) -> None:
    """A second copy of a jid at the same score (a PUSH of a scheduled job sent twice) arrives
    after the group was kept: Redis counts one more member, so the group is read again."""
    a, b = pair
    keys = _fill(raw, SIZE)
    assert await a.set_remove(SortedSet.RETRIES, keys[:CHUNK]) == CHUNK
    copy = make_job(jid="group-0000600", args=["the second copy"])
    await b.set_add(SortedSet.RETRIES, SCORE, copy)
    assert await a.set_remove(SortedSet.RETRIES, [keys[600]]) == 2


async def test_an_entry_moved_to_another_score_is_not_acted_on(
    pair: tuple[RedisStore, RedisStore], raw: redis.Redis
) -> None:
    """The same member given another score (the same set, the same bytes) is another entry:
    every acting script checks the score it was seen with."""
    a, _ = pair
    keys = _fill(raw, SIZE)
    assert await a.set_remove(SortedSet.RETRIES, keys[:CHUNK]) == CHUNK
    member = raw.zrangebyscore("retries", SCORE, SCORE)[0]
    jid = json.loads(member)["jid"]
    raw.zadd("retries", {member: 99.0})
    raw.zadd("retries", {make_job().encode(): SCORE})  # the count stays what a expects
    key = f"{fstr(SCORE)}|{jid}"
    assert await a.set_get(SortedSet.RETRIES, key) is None
    assert await a.set_remove(SortedSet.RETRIES, [key]) == 0
    assert await a.set_kill(SortedSet.RETRIES, [key], 5.0) == 0
    assert raw.zscore("retries", member) == 99.0


async def test_a_kept_group_is_let_go(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(groups_module, "KEEP_SECONDS", 0.05)
    groups = Groups()
    groups.keep("retries", 1.0, [(f'{{"jid":"j{n}"}}'.encode(), 1.0) for n in range(KEEP_FROM)])
    assert groups._kept is not None
    await anyio.sleep(0.2)
    assert groups._kept is None
