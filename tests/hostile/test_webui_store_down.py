"""Issue 13 item 11, over real sockets: with Redis hung (SIGSTOP) or gone, ``/health`` answers
503 with the reason and every page a 503 "Store unavailable" page, within the UI's store
deadline instead of a bare 500 after 5 s; once Redis is back, all answers again and every job
pushed before is still there."""

from __future__ import annotations

import json
import os
import signal
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from faktory_core.clock import SystemClock
from faktory_core.config import Timings
from faktory_core.plugins import webui
from faktory_core.plugins.redis_store import RedisSettings, RedisStore
from faktory_core.plugins.webui.availability import STORE_DEADLINE
from faktory_core.protocol import Bulk, SimpleString
from faktory_core.testing import FwpSocket, ServerThread

# tests/ is no package: a relative import is the way to share the Redis test helpers.
from ..redis import either_store  # noqa: TID252
from ..redis.conftest import RedisServer  # noqa: TID252

PAGES = ("/", "/busy", "/queues", "/retries", "/scheduled", "/morgue", "/debug", "/stats")
JOBS = 20


redis = either_store.own_redis


@pytest.fixture
def running(redis: RedisServer, tmp_path: Path) -> Iterator[tuple[ServerThread, httpx.Client]]:
    store = RedisStore(SystemClock(), RedisSettings(url=redis.url))
    thread = ServerThread(
        store,
        timings=Timings(fetch_block=0.5),
        plugins=[("webui", webui)],
        web_binding="127.0.0.1:0",
        config_dir=tmp_path / "conf",
        storage_dir=tmp_path / "db",
    )
    with thread:
        assert thread.server is not None
        port = webui.web_port(thread.server)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            yield thread, client


def push_jobs(thread: ServerThread) -> list[str]:
    conn = FwpSocket.open(thread.port)
    jids = []
    for _ in range(JOBS):
        jid = uuid.uuid4().hex
        reply = conn.json_command("PUSH", {"jid": jid, "jobtype": "Kept", "args": []})
        assert reply == SimpleString("OK")
        jids.append(jid)
    conn.close()
    return jids


def queued(thread: ServerThread) -> int:
    conn = FwpSocket.open(thread.port)
    reply = conn.command("INFO")
    conn.close()
    assert isinstance(reply, Bulk)
    assert reply.data is not None
    return int(json.loads(reply.data)["faktory"]["queues"]["default"])


def assert_unavailable(client: httpx.Client, why: str) -> None:
    health = client.get("/health")
    assert health.status_code == 503
    assert why in health.json()["store"]
    assert health.headers["retry-after"] == "5"
    for path in PAGES:
        page = client.get(path)
        assert page.status_code == 503, path
        assert "Store unavailable" in page.text
        assert why in page.text
    assert client.get("/static/app.css").status_code == 200  # needs no store


def test_redis_hung_then_back(
    redis: RedisServer, running: tuple[ServerThread, httpx.Client]
) -> None:
    thread, client = running
    push_jobs(thread)
    assert client.get("/health").status_code == 200
    assert redis.process is not None
    os.kill(redis.process.pid, signal.SIGSTOP)
    try:
        # The UI's own deadline, then (after 5 s) the Redis link's timeout: both "did not answer".
        assert (
            f"did not answer within {STORE_DEADLINE:g} s" in client.get("/health").json()["store"]
        )
        assert_unavailable(client, "did not answer")
    finally:
        os.kill(redis.process.pid, signal.SIGCONT)
    health = client.get("/health")
    assert health.status_code == 200
    assert "store" not in health.json()
    for path in PAGES:
        assert client.get(path).status_code == 200, path
    assert queued(thread) == JOBS


def test_redis_gone_then_back(
    redis: RedisServer, running: tuple[ServerThread, httpx.Client]
) -> None:
    thread, client = running
    push_jobs(thread)
    redis.stop()  # SIGTERM: Redis saves and exits
    assert_unavailable(client, "the redis store failed")
    redis.start()
    health = client.get("/health")
    assert health.status_code == 200
    assert queued(thread) == JOBS
