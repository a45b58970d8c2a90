"""Finding the Redis (REDIS_URL, REDIS_PROVIDER, [redis] in conf.d), passwords and databases,
clear errors, and an outage: commands fail with a StoreError, then work again by themselves."""

from __future__ import annotations

import socket
from collections.abc import Callable
from pathlib import Path
from types import MappingProxyType

import anyio
import pytest
import redis

from faktory_core.config import Config
from faktory_core.errors import StoreError
from faktory_core.kernel import installed_plugins
from faktory_core.plugins import redis_store
from faktory_core.plugins.redis_store import RedisSettings, RedisSetupError, RedisStore
from faktory_core.plugins.redis_store.connection import describe, resolve_settings
from faktory_core.store import Store
from faktory_core.testing import FakeClock
from faktory_core.testing.contract import make_job

from .conftest import WAKE_SECONDS, RedisServer, fetch_during, open_store


@pytest.mark.parametrize(
    ("environ", "toml", "expected"),
    [
        ({}, {}, RedisSettings()),
        ({"REDIS_URL": "redis://h:6380/2"}, {}, RedisSettings("redis://h:6380/2")),
        (
            {"REDIS_PROVIDER": "MY_REDIS", "MY_REDIS": "rediss://:pw@h/1", "REDIS_URL": "x"},
            {},
            RedisSettings("rediss://:pw@h/1"),
        ),
        ({}, {"redis": {"url": "unix:///run/r.sock?db=3"}}, RedisSettings("unix:///run/r.sock?db=3")),
        ({"REDIS_URL": "redis://env"}, {"redis": {"url": "redis://toml"}}, RedisSettings("redis://env")),
        ({}, {"redis": {"prefix": "app:", "pool_size": 8}}, RedisSettings(None, "app:", 8)),
        (
            {"FAKTORY_REDIS_PREFIX": "env:"},
            {"redis": {"prefix": "toml:"}},
            RedisSettings(None, "env:"),
        ),
    ],
)  # fmt: skip
def test_settings(
    environ: dict[str, str], toml: dict[str, object], expected: RedisSettings
) -> None:
    assert resolve_settings(environ, MappingProxyType(toml)) == expected


@pytest.mark.parametrize(
    ("environ", "toml", "problem"),
    [
        ({"REDIS_PROVIDER": "MISSING"}, {}, "REDIS_PROVIDER names MISSING, which is not set"),
        ({"REDIS_PROVIDER": "redis://:secret@h"}, {}, "must name the environment variable"),
        ({"REDIS_URL": "http://h"}, {}, r"use redis://, rediss://, unix:// or redis\+sentinel://"),
        ({}, {"redis": {"pool_size": 1}}, "pool_size"),
        ({}, {"redis": {"prefix": 3}}, "prefix must be a string"),
        ({}, {"redis": "x"}, "must be a table"),
    ],
)
def test_bad_settings(environ: dict[str, str], toml: dict[str, object], problem: str) -> None:
    with pytest.raises(RedisSetupError, match=problem) as caught:
        resolve_settings(environ, toml)
    assert "secret" not in str(caught.value)


def test_describe_hides_the_password() -> None:
    assert describe("redis://user:s3cret@host:6380/1") == "redis://user:***@host:6380/1"
    assert describe("rediss://:s3cret@host/0") == "rediss://:***@host/0"
    assert describe("unix:///tmp/r.sock?db=2") == "unix:///tmp/r.sock?db=2"
    assert describe("unix:///r.sock?db=2&password=s3cret") == "unix:///r.sock?db=2&password=***"


def test_plugin_is_an_entry_point_and_makes_a_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert installed_plugins()["redis_store"] == "faktory_core.plugins.redis_store"
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")
    monkeypatch.setenv("FAKTORY_REDIS_PREFIX", "p:")
    store = redis_store.faktory_core_make_store(
        config=Config(storage_dir=tmp_path), clock=FakeClock()
    )
    assert isinstance(store, RedisStore)
    assert isinstance(store, Store)
    assert (store.name, store.settings, store.storage) == (
        "redis",
        RedisSettings("redis://127.0.0.1:1/0", "p:"),
        tmp_path,
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.mark.parametrize("scheme", ["redis", "unix"])
async def test_password_and_database(
    redis_factory: Callable[..., RedisServer], scheme: str
) -> None:
    port = _free_port()
    server = redis_factory(password="pa ss", port=port)
    if scheme == "redis":
        url = f"redis://:pa%20ss@127.0.0.1:{port}/3"
    else:
        url = f"unix://{server.socket}?db=3&password=pa%20ss"
    store = RedisStore(FakeClock(), RedisSettings(url=url))
    await store.open()
    try:
        await store.push(make_job())
    finally:
        await store.close()
    with server.client() as raw:
        assert raw.llen("q:default") == 0
        raw.select(3)
        assert raw.llen("q:default") == 1


async def test_wrong_password_is_a_clear_start_error(
    redis_factory: Callable[..., RedisServer],
) -> None:
    server = redis_factory(password="right")
    url = f"unix://{server.socket}?password=wrong"
    store = RedisStore(FakeClock(), RedisSettings(url=url))
    with pytest.raises(RedisSetupError, match=r"refused the credentials") as caught:
        await store.open()
    assert "wrong" not in str(caught.value)


async def test_unreachable_redis_is_a_clear_start_error(tmp_path: Path) -> None:
    store = RedisStore(FakeClock(), RedisSettings(url=f"unix://{tmp_path}/nothing.sock"))
    with pytest.raises(RedisSetupError, match=r"Redis at unix://.*nothing.sock is unreachable"):
        await store.open()


async def test_outage_then_reconnect(redis_factory: Callable[..., RedisServer]) -> None:
    """Redis stops under a connected store: commands answer a StoreError; it comes back: the
    same store works again by itself, and what was stored before is still there."""
    server = redis_factory(appendonly=True)
    clock = FakeClock()
    store = RedisStore(clock, RedisSettings(url=server.url))
    await store.open()
    try:
        await store.push(make_job(args=["before"]))
        server.stop()
        with pytest.raises(StoreError, match=r"Redis at unix://.* is unreachable"):
            await store.push(make_job())
        with pytest.raises(StoreError, match="unreachable"):
            await store.fetch(["default"], "w1", clock.now(), 2.0)
        with pytest.raises(StoreError, match="unreachable"):
            await store.stats()
        server.start()
        res = await store.fetch(["default"], "w1", clock.now(), 0)
        assert res is not None
        assert res.job.args == ["before"]
        await store.push(make_job(args=["after"]))
        assert await store.queue_size("default") == 1
        assert await store.ack(res.job.jid, clock.now()) == res
        await _resubscribed(server)
        await _woken_by_another_store(store, server.url, clock)
    finally:
        await store.close()


async def _resubscribed(server: RedisServer) -> None:
    """The store's listener subscribes again by itself (within its retry delays)."""
    with anyio.fail_after(10), server.client() as raw:
        while not raw.pubsub_numsub("fc:pushed")[0][1]:  # noqa: ASYNC110
            await anyio.sleep(0.05)


async def _woken_by_another_store(store: RedisStore, url: str, clock: FakeClock) -> None:
    other = await open_store(clock, url)
    try:
        job = make_job(queue="woken")
        got, waited = await fetch_during(store, clock, lambda: other.push(job), queue="woken")
        assert waited < WAKE_SECONDS
        assert got[0] is not None
    finally:
        await other.close()


async def test_old_redis_is_refused(
    redis_factory: Callable[..., RedisServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    server = redis_factory()

    async def ancient(client: redis.asyncio.Redis) -> tuple[str, tuple[int, ...]]:
        return "redis 6.0.9", (6, 0, 9)

    monkeypatch.setattr("faktory_core.plugins.redis_store.store.server_version", ancient)
    store = RedisStore(FakeClock(), RedisSettings(url=server.url))
    with pytest.raises(RedisSetupError, match=r"redis 6.0.9 at .* is too old"):
        await store.open()


async def test_crash_under_load_loses_nothing_acknowledged(
    redis_factory: Callable[..., RedisServer],
) -> None:
    """Pushers and a worker run while Redis is killed (SIGKILL) and started again: every push
    and ACK that was answered OK is still there afterwards (the test server fsyncs every
    write; the supervised one every second), and the same store carries on."""
    server = redis_factory(appendonly=True)
    clock = FakeClock()
    store = RedisStore(clock, RedisSettings(url=server.url))
    await store.open()
    pushed: list[str] = []
    acked: list[str] = []
    unknown: list[str] = []
    errors = 0

    async def pusher(stop: anyio.Event) -> None:
        nonlocal errors
        while not stop.is_set():
            job = make_job()
            try:
                await store.push(job)
                pushed.append(job.jid)
            except StoreError:
                errors += 1
                await anyio.sleep(0.01)

    async def worker(stop: anyio.Event) -> None:
        nonlocal errors
        while not stop.is_set():
            try:
                res = await store.fetch(["default"], "w1", clock.now(), 0)
            except StoreError:
                errors += 1
                await anyio.sleep(0.01)
                continue
            if res is None:
                await anyio.sleep(0.001)
                continue
            try:
                if await store.ack(res.job.jid, clock.now()):
                    acked.append(res.job.jid)
            except StoreError:
                unknown.append(res.job.jid)  # ran or not: the answer was lost
                errors += 1

    try:
        with anyio.fail_after(20):
            stop = anyio.Event()
            async with anyio.create_task_group() as group:
                for _ in range(3):
                    group.start_soon(pusher, stop)
                group.start_soon(worker, stop)
                await anyio.sleep(0.3)
                server.stop(kill=True)
                await anyio.sleep(0.3)
                server.start()
                await anyio.sleep(0.3)
                stop.set()
        assert errors > 0
        assert len(pushed) > 100
        assert len(acked) > 10
        queued = {job.jid for job in await store.queue_page("default", 0, 1_000_000)}
        working = {res.job.jid for res in await store.reservations()}
        missing = set(pushed) - queued - working - set(acked)
        assert missing <= set(unknown)  # only ACKs whose answer was lost, and they did run:
        assert (await store.stats()).processed == len(acked) + len(missing)
    finally:
        await store.close()
