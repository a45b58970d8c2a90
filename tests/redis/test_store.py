"""What the Redis store does beyond the contract: scans that survive removals, unreadable data
moved aside instead of blocking a queue or a reaper, the JSON and expiries it leaves in Redis,
and the wake-up bookkeeping of blocked fetches."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import anyio
import pytest
import redis

from faktory_core.model import JobFilter, SortedSet, WorkerInfo
from faktory_core.plugins.redis_store import RedisSettings, RedisStore
from faktory_core.plugins.redis_store.codec import fstr
from faktory_core.plugins.redis_store.store import DAY_TTL, _digest, _split_cursor, _surely_not
from faktory_core.plugins.redis_store.wakeup import Waiter, Wakeups, parse_message
from faktory_core.store import FailureOutcome
from faktory_core.testing import FakeClock
from faktory_core.testing.contract import failed, make_job
from faktory_core.timefmt import parse_ts, utc_day


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def raw(redis_url: str) -> redis.Redis:
    return redis.Redis.from_url(redis_url)


@pytest.fixture
async def store(clock: FakeClock, redis_url: str) -> AsyncIterator[RedisStore]:
    store = RedisStore(clock, RedisSettings(url=redis_url))
    await store.open()
    yield store
    await store.close()


async def test_scan_skips_nothing_when_entries_go_behind_the_cursor(store: RedisStore) -> None:
    jobs = [make_job(args=[n]) for n in range(6)]
    for n, job in enumerate(jobs):
        await store.set_add(SortedSet.RETRIES, float(n), job)
    page, cursor = await store.set_scan(SortedSet.RETRIES, JobFilter(), "", 2)
    assert [entry.job for entry in page] == jobs[:2]
    assert await store.set_remove(SortedSet.RETRIES, [entry.key for entry in page]) == 2
    seen = list(page)
    while cursor:
        page, cursor = await store.set_scan(SortedSet.RETRIES, JobFilter(), cursor, 2)
        seen.extend(page)
    assert [entry.job for entry in seen] == jobs


def _same_score(raw: redis.Redis, count: int) -> list[str]:
    """``count`` retries sharing one score (as a MUTATE kill leaves them), in rank order."""
    jobs = [make_job(jid=f"same-{n:07d}") for n in range(count)]
    raw.zadd("retries", {job.encode(): 3.0 for job in jobs})
    return [_text(member) for member in raw.zrange("retries", 0, -1)]


def _digest_of(raw: redis.Redis, rank: int) -> str:
    return _digest(raw.zrange("retries", rank, rank)[0])


def _text(member: bytes) -> str:
    return str(json.loads(member)["jid"])


@pytest.mark.parametrize("removed", [0, 5, 150], ids=["none", "a-few", "more-than-a-page"])
async def test_a_same_score_walk_skips_nothing(
    store: RedisStore, raw: redis.Redis, removed: int
) -> None:
    """The cursor carries the rank its entry had; after removals behind it the entry is found
    a little lower, or (more than a page removed) in its whole score: no entry is skipped."""
    jids = _same_score(raw, 1000)
    seen: list[str] = []
    page, cursor = await store.set_scan(SortedSet.RETRIES, JobFilter(), "", 100)
    while cursor:
        seen.extend(entry.job.jid for entry in page)
        behind = removed if len(seen) > 500 else 0
        assert cursor.partition(":")[0] == str(len(seen) - 1 - behind)  # the rank it had
        if len(seen) == 500 and removed:
            gone = [f"{fstr(3.0)}|{jid}" for jid in seen[-removed - 1 : -1]]  # not the cursor's
            assert await store.set_remove(SortedSet.RETRIES, gone) == removed
        page, cursor = await store.set_scan(SortedSet.RETRIES, JobFilter(), cursor, 100)
    seen.extend(entry.job.jid for entry in page)
    assert seen == jids


@pytest.mark.parametrize("hint", ["", "0:", "999999:", "12:"])
async def test_a_wrong_or_missing_rank_hint_only_costs_time(
    store: RedisStore, raw: redis.Redis, hint: str
) -> None:
    jids = _same_score(raw, 300)
    cursor = f"{hint}{_digest_of(raw, 149)}:{fstr(3.0)}|{jids[149]}" if hint else ""
    cursor = cursor or f"{fstr(3.0)}|{jids[149]}"  # a plain entry key: found by its jid
    page, _ = await store.set_scan(SortedSet.RETRIES, JobFilter(), cursor, 10)
    assert [entry.job.jid for entry in page] == jids[150:160]


@pytest.mark.parametrize(
    ("cursor", "split"),
    [
        ("12:0123456789abcdef:1.5|a:b", ("12", "0123456789abcdef", "1.5|a:b")),
        ("1.5|a:b", ("", "", "1.5|a:b")),
        ("12:1.5|a:b", ("12", "", "1.5|a:b")),  # an older cursor: a hint, no digest
        ("x:1.5|j", ("", "", "1.5|j")),  # a hint that is not one is dropped
        ("a:b:c:1.5|j", ("", "", "a:b:c:1.5|j")),
        ("²:0123456789abcdef:1.0|x", ("", "0123456789abcdef", "1.0|x")),  # not ASCII
        ("99999999999999999999:zz:1.0|x", ("", "", "1.0|x")),  # too long; not a digest
    ],
)
def test_cursor_split(cursor: str, split: tuple[str, str, str]) -> None:
    assert _split_cursor(cursor) == split


@pytest.mark.parametrize("hint", ["²", "99999999999999999999", "-1", "1e3"])
async def test_a_hint_from_a_url_never_reaches_redis_unchecked(
    store: RedisStore, raw: redis.Redis, hint: str
) -> None:
    jids = _same_score(raw, 30)
    cursor = f"{hint}:{_digest_of(raw, 9)}:{fstr(3.0)}|{jids[9]}"
    page, _ = await store.set_scan(SortedSet.RETRIES, JobFilter(), cursor, 5)
    assert [entry.job.jid for entry in page] == jids[10:15]


async def test_a_walk_passes_members_it_cannot_find_by_jid(
    store: RedisStore, raw: redis.Redis
) -> None:
    """A jid written with escapes, and a member that is not a job, sitting at page ends: the
    cursor's digest finds them, so the walk neither stops early nor goes round in circles."""
    members = [
        b'{"jid":"a\\"000001","jobtype":"T","args":[],"queue":"default"}',
        b'{"jid":"b\\\\000002","jobtype":"T","args":[],"queue":"default"}',
        b"not json at all",
        *(make_job(jid=f"plain-{n:07d}").encode() for n in range(5)),
    ]
    raw.zadd("retries", dict.fromkeys(members, 3.0))
    readable = sorted(json.loads(m)["jid"] for m in members if m.startswith(b"{"))
    for count in (1, 2, 3):
        seen: list[str] = []
        cursor, steps = "", 0
        while steps == 0 or cursor:
            page, cursor = await store.set_scan(SortedSet.RETRIES, JobFilter(), cursor, count)
            seen.extend(entry.job.jid for entry in page)
            steps += 1
            assert steps <= len(members), "the walk goes round in circles"
        assert sorted(seen) == readable  # each once: none missed, none twice


async def test_non_json_in_a_queue_is_moved_aside(store: RedisStore, raw: redis.Redis) -> None:
    job = make_job()
    raw.sadd("queues", "default")
    raw.lpush("q:default", b"{not json")
    await store.push(job)
    res = await store.fetch(["default"], "w1", 0.0, 0)
    assert res is not None
    assert res.job == job
    assert raw.lrange("fc:corrupt", 0, -1) == [b"{not json"]


async def test_an_invalid_job_in_a_queue_is_moved_aside(
    store: RedisStore, raw: redis.Redis
) -> None:
    bad = json.dumps({"jid": "short", "jobtype": "X", "args": []})
    raw.lpush("q:default", bad)
    assert await store.fetch(["default"], "w1", 0.0, 0) is None
    assert (await store.working_size(), raw.lrange("fc:corrupt", 0, -1)) == (0, [bad.encode()])


async def test_truncated_json_that_looks_like_a_job_is_moved_aside(
    store: RedisStore, raw: redis.Redis
) -> None:
    """The fetch script reads the jid of a job beginning {"jid":"…" without decoding it; the
    store's own decode still catches the rest being broken, and nothing stays reserved."""
    truncated = b'{"jid":"0123456789abcdef","jobtype":"X","args":['
    raw.lpush("q:default", truncated)
    job = make_job()
    await store.push(job)
    res = await store.fetch(["default"], "w1", 0.0, 0)
    assert res is not None
    assert res.job == job
    assert raw.lrange("fc:corrupt", 0, -1) == [truncated]
    assert raw.hkeys("fc:reservations") == [job.jid.encode()]


@pytest.mark.parametrize(
    "fields",
    [
        {"custom": {"jid": "decoy", "reserve_for": 7200}},  # nested keys are not the job's
        {"args": [{"reserve_for": 7200}]},
        {"reserve_for": 1800},
        {"reserve_for": 0},
        {},
    ],
)
async def test_the_reservation_follows_the_top_level_fields_only(
    store: RedisStore, raw: redis.Redis, fields: dict[str, object]
) -> None:
    job = make_job(**fields)
    await store.push(job)
    res = await store.fetch(["default"], "w1", 1000.0, 0)
    assert res is not None
    assert (res.job, res.expires_at) == (job, 2800.0)
    [(member, score)] = raw.zrange("working", 0, -1, withscores=True)
    assert score == 2800.0
    assert parse_ts(json.loads(member)["expires_at"]) == 2800.0
    assert raw.hget("fc:reservations", job.jid) == member


async def test_faktory_ordered_json_with_its_own_reservation_time(
    store: RedisStore, raw: redis.Redis
) -> None:
    """Faktory writes the jid first; a top-level reserve_for is honoured (clamped)."""
    stored = {"jid": "abcdefghijkl", "jobtype": "X", "args": [], "queue": "default"}
    raw.lpush("q:default", json.dumps({**stored, "reserve_for": 30}))
    res = await store.fetch(["default"], "w1", 1000.0, 0)
    assert res is not None
    assert (res.job.jid, res.expires_at) == ("abcdefghijkl", 1060.0)


@pytest.mark.parametrize("jid", ['quote"jid-0001', "back\\slash-0001", "plain-jid-0001"])
async def test_a_jid_with_escapes_is_reserved_under_its_own_name(
    store: RedisStore, raw: redis.Redis, jid: str
) -> None:
    """The fetch script reads a jid without escapes from the text; any other is decoded, so
    the index (and ACK by jid) uses the jid itself, never its escaped text."""
    job = make_job(jid=jid)
    await store.push(job)
    res = await store.fetch(["default"], "w1", 1000.0, 0)
    assert res is not None
    assert res.job == job
    assert raw.hkeys("fc:reservations") == [jid.encode()]
    acked = await store.ack(jid, 1001.0)
    assert acked is not None
    assert acked.job == job
    assert (raw.zcard("working"), raw.hlen("fc:reservations")) == (0, 0)


async def test_a_jid_reserved_again_replaces_its_reservation(
    store: RedisStore, raw: redis.Redis
) -> None:
    """The same jid pushed twice and fetched twice: the second reservation replaces the first
    (one member in working, the index points to it), and one ACK settles the jid."""
    job = make_job()
    await store.push(job)
    await store.push(job)
    first = await store.fetch(["default"], "w1", 1000.0, 0)
    second = await store.fetch(["default"], "w2", 1005.0, 0)
    assert first is not None
    assert second is not None
    [(member, score)] = raw.zrange("working", 0, -1, withscores=True)
    assert (score, json.loads(member)["wid"]) == (2805.0, "w2")
    assert raw.hget("fc:reservations", job.jid) == member
    acked = await store.ack(job.jid, 1010.0)
    assert acked is not None
    assert acked.wid == "w2"
    assert await store.ack(job.jid, 1011.0) is None
    assert (raw.zcard("working"), raw.hlen("fc:reservations")) == (0, 0)


async def test_unreadable_due_entries_do_not_block_the_set(
    store: RedisStore, raw: redis.Redis, clock: FakeClock
) -> None:
    for n in range(3):
        raw.zadd("retries", {f"junk-{n}": 1.0})
    await store.set_add(SortedSet.RETRIES, 2.0, make_job())
    assert await store.enqueue_due(SortedSet.RETRIES, clock.now(), 3) == 0
    assert await store.enqueue_due(SortedSet.RETRIES, clock.now(), 3) == 1
    assert raw.llen("fc:corrupt") == 3
    assert await store.set_size(SortedSet.RETRIES) == 0


async def test_unreadable_reservations_do_not_block_the_reaper(
    store: RedisStore, raw: redis.Redis, clock: FakeClock
) -> None:
    raw.zadd("working", {"junk": 1.0})
    await store.push(make_job(reserve_for=60))
    res = await store.fetch(["default"], "w1", 0.0, 0)
    assert res is not None
    assert await store.expired(clock.now(), 10) == [res]
    assert raw.lrange("fc:corrupt", 0, -1) == [b"junk"]


async def test_extend_rewrites_the_reservation(store: RedisStore, raw: redis.Redis) -> None:
    await store.push(make_job())
    res = await store.fetch(["default"], "w1", 1000.0, 0)
    assert res is not None
    assert await store.extend(res.job.jid, 5000.5)
    [(member, expiry)] = raw.zrange("working", 0, -1, withscores=True)
    data = json.loads(member)
    assert (expiry, parse_ts(data["expires_at"]), parse_ts(data["reserved_at"])) == (
        5000.5,
        5000.5,
        1000.0,
    )
    assert raw.hget("fc:reservations", res.job.jid) == member


async def test_expiries_in_redis(store: RedisStore, raw: redis.Redis, clock: FakeClock) -> None:
    """Redis-side expiries are safety nets: kv items outlive their clock expiry, worker records
    outlive any heartbeat interval."""
    await store.kv_set("brief", b"1", ttl=10)
    await store.kv_set("kept", b"2")
    assert 10_000 < raw.pttl("kv:brief") <= 11_000
    assert raw.pttl("kv:kept") == -1
    assert raw.hgetall("kv:brief") == {b"v": b"1", b"x": repr(clock.now() + 10).encode()}
    await store.worker_connect(WorkerInfo("wid-1", last_beat=clock.now()))
    assert 86_000 < raw.ttl("fc:worker:wid-1") <= 86_400


async def test_day_counters_expire_after_the_days_first_count(
    store: RedisStore, raw: redis.Redis, clock: FakeClock
) -> None:
    """The day's first ACK or FAIL sets the counters' expiry and later ones leave it; a day
    counter found without one (Faktory's never expire) gets one at its next count."""
    day = utc_day(clock.now())
    jobs = [make_job() for _ in range(4)]
    for job in jobs:
        await store.push(job)
    for job in jobs[:2]:
        assert await store.fetch(["default"], "w1", clock.now(), 0) is not None
        assert await store.ack(job.jid, clock.now()) is not None
    assert raw.get(f"processed:{day}") == b"2"
    assert DAY_TTL - 60 < raw.ttl(f"processed:{day}") <= DAY_TTL
    raw.expire(f"processed:{day}", 1000)  # set by the first ACK: the second did not touch it
    assert await store.fetch(["default"], "w1", clock.now(), 0) is not None
    assert await store.ack(jobs[2].jid, clock.now()) is not None
    assert 900 < raw.ttl(f"processed:{day}") <= 1000
    raw.persist(f"processed:{day}")
    res = await store.fetch(["default"], "w1", clock.now(), 0)
    assert res is not None
    outcome = FailureOutcome(failed(res.job), SortedSet.RETRIES, clock.now() + 60)
    assert await store.settle_failure(res.job.jid, outcome, clock.now())
    assert raw.mget(f"processed:{day}", f"failures:{day}") == [b"4", b"1"]
    for key in (f"processed:{day}", f"failures:{day}"):
        assert DAY_TTL - 60 < raw.ttl(key) <= DAY_TTL


async def test_unreserve_goes_back_first(store: RedisStore, raw: redis.Redis) -> None:
    first, second = make_job(), make_job()
    await store.push(first)
    await store.push(second)
    res = await store.fetch(["default"], "w1", 0.0, 0)
    assert res is not None
    assert await store.unreserve(first.jid)
    assert raw.hlen("fc:reservations") == 0
    assert [json.loads(item)["jid"] for item in raw.lrange("q:default", 0, -1)] == [
        second.jid,
        first.jid,
    ]


def test_wakeups_wake_in_order_and_once() -> None:
    wakeups = Wakeups()
    first, second, other = Waiter(["a", "b"]), Waiter(["a"]), Waiter(["c"])
    for waiter in (first, second, other):
        wakeups.arm(waiter)
    assert sorted(wakeups.queues) == ["a", "b", "c"]
    wakeups.notify("a", 1)
    assert (first.event.is_set(), first.woken_for, second.event.is_set()) == (True, "a", False)
    wakeups.notify("b", 1)  # the only waiter of b is awake already
    assert first.woken_for == "a"
    wakeups.notify("a", 5)
    assert second.event.is_set()
    assert not other.event.is_set()
    wakeups.arm(first)  # back in line, at the end
    assert not first.event.is_set()
    for waiter in (first, second, other):
        wakeups.discard(waiter)
    assert not wakeups


def test_messages() -> None:
    assert parse_message(b"default 3") == ("default", 3)
    assert parse_message(b"a.b-c 1") == ("a.b-c", 1)
    assert parse_message(b"nonsense") is None
    assert parse_message(b"q x") is None


async def test_a_fetch_woken_for_a_queue_it_did_not_take_passes_it_on(
    store: RedisStore, raw: redis.Redis, clock: FakeClock
) -> None:
    """One waits on [high, low], two on [low]. A job reaches high without a message (as from
    a burst), then a push to low wakes one, the longest waiting: one takes high and hands the
    wake-up for low to two at once, well before the fallback poll."""
    high, low = make_job(queue="high"), make_job(queue="low")
    results: dict[str, str] = {}
    with anyio.fail_after(5):
        async with anyio.create_task_group() as group:

            async def wait(name: str, queues: list[str]) -> None:
                res = await store.fetch(queues, name, clock.now(), 30)
                results[name] = res.job.queue if res else ""

            group.start_soon(wait, "one", ["high", "low"])
            await anyio.wait_all_tasks_blocked()
            group.start_soon(wait, "two", ["low"])
            await anyio.wait_all_tasks_blocked()
            raw.lpush("q:high", high.encode())
            started = anyio.current_time()
            await store.push(low)
    assert anyio.current_time() - started < 0.5
    assert results == {"one": "high", "two": "low"}


async def test_due_reservations_nobody_indexed_are_adopted_or_set_aside(
    store: RedisStore, raw: redis.Redis, clock: FakeClock
) -> None:
    """Reservations written behind the store's back (another Faktory) are adopted when no
    other reservation holds their jid; a superseded duplicate of a jid is set aside. Neither
    comes back in every batch of the reaper."""
    job = make_job(reserve_for=60)
    older = '{"job":%s,"reserved_at":"2025-06-15T15:00:00Z","expires_at":"x","wid":"a"}'
    newer = '{"job":%s,"reserved_at":"2025-06-15T15:01:00Z","expires_at":"y","wid":"b"}'
    raw.zadd("working", {older % job.encode().decode(): 10.0})
    [adopted] = await store.expired(clock.now(), 10)
    assert (adopted.job, adopted.wid) == (job, "a")
    raw.zadd("working", {newer % job.encode().decode(): 20.0})
    assert await store.expired(clock.now(), 10) == [adopted]
    assert [json.loads(item)["wid"] for item in raw.lrange("fc:corrupt", 0, -1)] == ["b"]
    outcome = FailureOutcome(failed(job), SortedSet.DEAD, clock.now())
    assert await store.settle_failure(job.jid, outcome, clock.now(), expired_only=True)
    assert await store.expired(clock.now(), 10) == []


async def test_entries_sharing_a_score_are_found_by_jid_only(store: RedisStore) -> None:
    """Entries are addressed by score and jid; the store skips same-score members without
    decoding them only when their text rules the jid out (a nested "jid" is not the job's)."""
    decoy = make_job(custom={"jid": "wanted-0000001"})
    wanted = make_job(jid="wanted-0000001")
    others = [make_job() for _ in range(3)]
    for job in (decoy, wanted, *others):
        await store.set_add(SortedSet.DEAD, 5.0, job)
    key = f"{fstr(5.0)}|wanted-0000001"
    found = await store.set_get(SortedSet.DEAD, key)
    assert found is not None
    assert found.job == wanted
    assert await store.set_remove(SortedSet.DEAD, [key]) == 1
    left = await store.set_page(SortedSet.DEAD, 0, 10)
    assert sorted(entry.job.jid for entry in left) == sorted(j.jid for j in (decoy, *others))


@pytest.mark.parametrize(
    ("member", "skipped"),
    [
        (b'{"jid":"a","args":[]}', True),
        (b'{"jid":"b","args":[]}', False),
        (b'{"custom":{"jid":"x"},"jid":"b"}', False),
        (b'{"jid" : "b"}', False),  # not compact: decoded
        (b'{"j\\u0069d":"b"}', False),  # an escaped key: decoded
        (b'{"jid":"a","args":["jid"]}', False),  # "jid" as a value: decoded
    ],
)
def test_members_are_ruled_out_only_when_certain(member: bytes, skipped: bool) -> None:
    assert _surely_not(member, {b"b"}) is skipped


async def test_debug_info_reports_redis(store: RedisStore) -> None:
    """The web UI's /debug page shows this: location, round-trip time and Redis's INFO."""
    report = await store.debug_info()
    assert report["location"] == store.where
    assert report["round trip (µs)"] >= 0
    assert "redis_version" in report["redis"]
