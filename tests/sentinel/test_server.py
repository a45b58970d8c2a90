"""A real ``faktory-core --plugin redis_store`` process on a sentinel URL keeps serving FWP
clients across a failover: commands during the switch answer ``-ERR`` (never hang), and after
it the same process serves again with every acknowledged job, without a restart."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from faktory_core.protocol.client import Bulk, ErrorReply, SimpleString
from faktory_core.testing import FwpSocket, stop_process

from .cluster import FAILOVER_SECONDS, START_SECONDS, SentinelCluster, free_port

OK = SimpleString("OK")

pytestmark = pytest.mark.slow


class Server:
    def __init__(self, folder: Path, url: str) -> None:
        self.folder = folder
        self.port = free_port()
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("FAKTORY_", "REDIS"))}
        self.env |= {"FAKTORY_ENV": "development", "REDIS_URL": url}
        self.log = folder / "server.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        command = [
            sys.executable, "-m", "faktory_core.cli", "--plugin", "redis_store",
            "-b", f"127.0.0.1:{self.port}", "-w", ":0",
            "-d", str(self.folder / "db"), "-c", str(self.folder),
        ]  # fmt: skip
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=self.env
            )
        deadline = time.monotonic() + START_SECONDS
        while True:
            if self.proc.poll() is not None:
                raise AssertionError(f"the server exited:\n{self.log.read_text()[-3000:]}")
            try:
                FwpSocket.open(self.port).close()
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise AssertionError(f"no answer:\n{self.log.read_text()}") from None
                time.sleep(0.02)

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        stop_process(proc, seconds=START_SECONDS)


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
