"""A real ``faktory-core --plugin redis_store`` process on a sentinel URL keeps serving FWP
clients across a failover: commands during the switch answer ``-ERR`` (never hang), and after
it the same process serves again with every acknowledged job, without a restart."""

from __future__ import annotations

import json
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from faktory_core.protocol.client import Bulk, ErrorReply, SimpleString
from faktory_core.testing import FwpSocket

from ..redis.test_crash import Server  # noqa: TID252
from .cluster import FAILOVER_SECONDS, SentinelCluster

OK = SimpleString("OK")

pytestmark = pytest.mark.slow


def _push(conn: FwpSocket) -> tuple[str, Any]:
    jid = uuid.uuid4().hex
    return jid, conn.json_command("PUSH", {"jid": jid, "jobtype": "T", "args": []})


def _store_info(conn: FwpSocket) -> dict[str, str]:
    return dict(conn.bulk_json("INFO")["server"]["store"])


def test_a_server_process_serves_across_a_failover(
    cluster: SentinelCluster, tmp_path: Path
) -> None:
    server = Server(tmp_path / "server", cluster.url())
    server.start()
    try:
        old = cluster.master()
        conn = FwpSocket.open(server.port, wid="w-1", hostname="h", pid=1)
        acked: list[str] = []
        errors: list[str] = []
        done = threading.Event()

        def push_all_along() -> None:  # the socket's 10 s timeout catches a hang
            while not done.is_set():
                jid, reply = _push(conn)
                if reply == OK:
                    acked.append(jid)
                else:
                    assert isinstance(reply, ErrorReply), reply
                    errors.append(reply.message)
                time.sleep(0.005)

        pusher = threading.Thread(target=push_all_along)
        pusher.start()
        try:
            time.sleep(0.3)
            new = cluster.failover()
            deadline = time.monotonic() + FAILOVER_SECONDS
            while len(errors) == 0 or acked[-1:] == [] or not _moved(server, new):
                assert time.monotonic() < deadline, (errors[-3:], server.log.read_text()[-2000:])
                time.sleep(0.05)
            settled = len(acked)
            while len(acked) < settled + 20:
                assert time.monotonic() < deadline
                time.sleep(0.05)
        finally:
            done.set()
            pusher.join()
        assert all("Redis" in text or "failover" in text for text in errors), errors
        fetched: list[str] = []
        while True:
            reply = conn.command("FETCH", "default")
            assert isinstance(reply, Bulk), reply
            if reply.data is None:
                break
            jid = json.loads(reply.data)["jid"]
            fetched.append(jid)
            assert conn.json_command("ACK", {"jid": jid}) == OK
        assert set(acked) <= set(fetched)
        store = _store_info(conn)
        assert store["sentinel_master"] == f"mymaster {new.address}"
        assert f"{old.address} -> {new.address}" in store["last_failover"]
        # The worker counts (INFO, the Busy page) come back with the next heartbeat.
        assert conn.json_command("BEAT", {"wid": "w-1"}) == OK
        workers = conn.bulk_json("INFO")["faktory"]["tasks"]["Workers"]
        assert workers["size"] == 1, workers
        conn.close()
    finally:
        server.stop()


def _moved(server: Server, new: Any) -> bool:
    conn = FwpSocket.open(server.port)
    try:
        return bool(_store_info(conn).get("sentinel_master", "").endswith(new.address))
    finally:
        conn.close()
