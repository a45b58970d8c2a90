"""Issue 13 item 10, over real sockets: Redis hung (SIGSTOP) for longer than the store's command
timeout while clients PUSH and FETCH. FETCHes that got ``-ERR`` must not leave their jobs
reserved for nobody: once Redis answers again, the store puts them back. Afterwards every job
whose PUSH was answered OK is queued, reserved by a FETCH that was answered, or was ACKed."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
import uuid
from pathlib import Path

import pytest

from faktory_core.clock import SystemClock
from faktory_core.config import Timings
from faktory_core.plugins.redis_store import RedisSettings, RedisStore
from faktory_core.plugins.redis_store.keys import Keys
from faktory_core.plugins.redis_store.link import COMMAND_TIMEOUT
from faktory_core.plugins.redis_store.store import FETCH_SCRIPT_QUEUES
from faktory_core.protocol import Bulk, ErrorReply, SimpleString
from faktory_core.testing import FwpSocket, ServerThread

# tests/ is no package: a relative import is the way to share the Redis test helpers.
from ..redis import either_store  # noqa: TID252
from ..redis.conftest import RedisServer  # noqa: TID252

FETCHERS = 6
PREFILL = 200
#: Real seconds to wait for the undo after Redis is back (the undo runs every second).
SETTLE_SECONDS = 60.0


redis = either_store.own_redis


class Load:
    """Pushers and fetchers on their own connections, recording what each reply said."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.pushed_ok: set[str] = set()
        self.delivered: set[str] = set()
        self.fetch_errors = 0
        self.threads = [threading.Thread(target=self.push_loop)]
        self.threads += [threading.Thread(target=self.fetch_loop) for _ in range(FETCHERS)]

    def push(self, conn: FwpSocket) -> None:
        jid = uuid.uuid4().hex
        reply = conn.json_command("PUSH", {"jid": jid, "jobtype": "Load", "args": []})
        if reply == SimpleString("OK"):
            with self.lock:
                self.pushed_ok.add(jid)

    def push_loop(self) -> None:
        conn = FwpSocket.open(self.port)
        while not self.stop.is_set():
            self.push(conn)
            time.sleep(0.005)
        conn.close()

    def fetch_loop(self) -> None:
        conn = FwpSocket.open(self.port, wid=uuid.uuid4().hex[:12])
        while not self.stop.is_set():
            reply = conn.command("FETCH", "default")
            if isinstance(reply, ErrorReply):
                with self.lock:
                    self.fetch_errors += 1
                continue
            assert isinstance(reply, Bulk)
            if reply.data is not None:
                with self.lock:
                    self.delivered.add(json.loads(reply.data)["jid"])
                # Neither ACK nor FAIL: an answered FETCH keeps its reservation.
        conn.close()


def reserved_jids(redis: RedisServer) -> set[str]:
    with redis.client() as client:
        return {jid.decode() for jid in client.hkeys(Keys("").reservations)}


def queued_jids(redis: RedisServer) -> set[str]:
    with redis.client() as client:
        raws = client.lrange(Keys("").queue("default"), 0, -1)
    return {json.loads(raw)["jid"] for raw in raws}


@pytest.mark.slow
def test_fetches_that_failed_while_redis_hung_leave_nothing_reserved(
    redis: RedisServer, tmp_path: Path
) -> None:
    store = RedisStore(SystemClock(), RedisSettings(url=redis.url))
    with ServerThread(store, timings=Timings(fetch_block=0.5)) as server:
        load = Load(server.port)
        conn = FwpSocket.open(server.port)
        for _ in range(PREFILL):
            load.push(conn)
        conn.close()
        for thread in load.threads:
            thread.start()
        time.sleep(0.5)
        assert redis.process is not None
        os.kill(redis.process.pid, signal.SIGSTOP)
        try:
            time.sleep(COMMAND_TIMEOUT + 1.5)  # every FETCH in flight times out: -ERR
        finally:
            os.kill(redis.process.pid, signal.SIGCONT)
        time.sleep(0.5)
        load.stop.set()
        for thread in load.threads:
            thread.join()
        assert load.fetch_errors > 0  # the hang was real: FETCHes answered -ERR

        deadline = time.monotonic() + SETTLE_SECONDS
        while (nobody := reserved_jids(redis) - load.delivered) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert nobody == set(), f"{len(nobody)} job(s) reserved for nobody"
        where = queued_jids(redis) | reserved_jids(redis)
        assert load.pushed_ok <= where, "jobs whose PUSH was answered OK are missing"
        # The server is alive and serves.
        conn = FwpSocket.open(server.port)
        assert isinstance(conn.command("INFO"), Bulk)
        conn.close()


def test_a_fetch_of_many_queues_runs_in_bounded_scripts(redis: RedisServer) -> None:
    # Was one Lua script over every named queue (1.5M queues held Redis for seconds). Now one
    # script per FETCH_SCRIPT_QUEUES queues, in order: priority is kept across the chunks.
    store = RedisStore(SystemClock(), RedisSettings(url=redis.url))
    with ServerThread(store, timings=Timings(fetch_block=0.2)) as server:
        conn = FwpSocket.open(server.port, wid="many")
        names = [f"q{i}" for i in range(3 * FETCH_SCRIPT_QUEUES + 7)]
        for name in (names[-1], names[FETCH_SCRIPT_QUEUES + 1]):
            job = {"jid": uuid.uuid4().hex, "jobtype": "Far", "args": [], "queue": name}
            assert conn.json_command("PUSH", job) == SimpleString("OK")
        with redis.client() as client:
            client.config_resetstat()
        got = []
        for _ in range(3):
            reply = conn.command("FETCH", *names)
            assert isinstance(reply, Bulk)
            got.append(None if reply.data is None else json.loads(reply.data)["queue"])
        assert got == [names[FETCH_SCRIPT_QUEUES + 1], names[-1], None]
        with redis.client() as client:
            stats = client.info("commandstats")
        calls = sum(v["calls"] for k, v in stats.items() if k.startswith("cmdstat_evalsha"))
        assert calls >= 2 + 4 + 4  # 2 chunks, then 4, then 4 (nothing found)
        conn.close()
