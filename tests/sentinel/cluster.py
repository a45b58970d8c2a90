"""A real Sentinel deployment on 127.0.0.1: a valkey master, replicas and three sentinels.

Every process is started here (``valkey-server`` from the test extra, ``--sentinel`` for the
sentinels, each with its own writable config file) and stopped by pid. Sentinels notice a dead
master after 1 s (``down-after-milliseconds``) and give up a failover after 5 s, so a failover
takes a few seconds. Other test folders (the chaos test) import :class:`SentinelCluster`.
"""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

import redis

from faktory_core.plugins.redis_store.supervisor import _die_with_parent
from faktory_core.testing import stop_process

MASTER_NAME = "mymaster"
#: Real seconds a process gets to start, and the sentinels to agree on the topology.
START_SECONDS = 20.0
#: Real seconds a failover may take here.
FAILOVER_SECONDS = 30.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Node:
    """One valkey-server (data node or sentinel) on a TCP port of 127.0.0.1."""

    def __init__(self, binary: str, folder: Path, *, sentinel: bool = False) -> None:
        self.binary = binary
        self.folder = folder
        self.port = free_port()
        self.sentinel = sentinel
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def client(self) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=5.0)

    def start(self, config: str) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        conf = self.folder / ("sentinel.conf" if self.sentinel else "redis.conf")
        conf.write_text(config)
        command = [self.binary, str(conf), *(["--sentinel"] if self.sentinel else [])]
        self.process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=_die_with_parent(),
        )
        deadline = time.monotonic() + START_SECONDS
        while True:
            try:
                with self.client() as client:
                    client.ping()
                return
            except (redis.ConnectionError, OSError):
                if self.process.poll() is not None or time.monotonic() > deadline:
                    log = (
                        (self.folder / "log").read_text() if (self.folder / "log").exists() else ""
                    )
                    raise RuntimeError(f"{command} did not start:\n{log[-2000:]}") from None
                time.sleep(0.02)

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, *, kill: bool = False) -> None:
        process, self.process = self.process, None
        stop_process(process, kill=kill, seconds=START_SECONDS)

    def role(self) -> str:
        with self.client() as client:
            return bytes(client.execute_command("ROLE")[0]).decode()


class SentinelCluster:
    """A master, ``replicas`` replicas and three sentinels watching them as ``mymaster``."""

    def __init__(
        self,
        binary: str,
        folder: Path,
        *,
        replicas: int = 1,
        sentinels: int = 3,
        down_after_ms: int = 1000,
        failover_timeout_ms: int = 5000,
    ) -> None:
        self.binary = binary
        self.folder = folder
        self.down_after_ms = down_after_ms
        self.failover_timeout_ms = failover_timeout_ms
        self.data = [Node(binary, folder / f"data{i}") for i in range(1 + replicas)]
        self.sentinels = [
            Node(binary, folder / f"sentinel{i}", sentinel=True) for i in range(sentinels)
        ]

    def _data_config(self, node: Node, master: Node | None) -> str:
        lines = [
            f"port {node.port}",
            "bind 127.0.0.1",
            f"dir {node.folder}",
            "save ''",
            "appendonly no",
            f"logfile {node.folder / 'log'}",
            "repl-diskless-sync yes",
            "repl-diskless-sync-delay 0",
        ]
        if master is not None:
            lines.append(f"replicaof 127.0.0.1 {master.port}")
        return "\n".join(lines) + "\n"

    def _sentinel_config(self, node: Node) -> str:
        master = self.data[0]
        return (
            "\n".join(
                [
                    f"port {node.port}",
                    "bind 127.0.0.1",
                    f"dir {node.folder}",
                    f"logfile {node.folder / 'log'}",
                    f"sentinel monitor {MASTER_NAME} 127.0.0.1 {master.port} 2",
                    f"sentinel down-after-milliseconds {MASTER_NAME} {self.down_after_ms}",
                    f"sentinel failover-timeout {MASTER_NAME} {self.failover_timeout_ms}",
                    f"sentinel parallel-syncs {MASTER_NAME} 1",
                ]
            )
            + "\n"
        )

    def start(self) -> None:
        master, *replicas = self.data
        master.start(self._data_config(master, None))
        for replica in replicas:
            replica.start(self._data_config(replica, master))
        self._wait(lambda: self._replicas_linked(master, len(replicas)), "replication")
        for sentinel in self.sentinels:
            sentinel.start(self._sentinel_config(sentinel))
        self._wait(self._sentinels_agree, "the sentinels to see each other and the replicas")

    def _replicas_linked(self, master: Node, count: int) -> bool:
        with master.client() as client:
            return int(client.info("replication")["connected_slaves"]) >= count

    def _sentinels_agree(self) -> bool:
        want_replicas = len(self.data) - 1
        for sentinel in self.sentinels:
            with sentinel.client() as client:
                others = client.execute_command("SENTINEL", "SENTINELS", MASTER_NAME)
                replicas = client.execute_command("SENTINEL", "REPLICAS", MASTER_NAME)
            if len(others) < len(self.sentinels) - 1 or len(replicas) < want_replicas:
                return False
        return True

    def _wait(self, ready: object, what: str, seconds: float = START_SECONDS) -> None:
        assert callable(ready)
        deadline = time.monotonic() + seconds
        while not ready():
            if time.monotonic() > deadline:
                raise RuntimeError(f"timed out waiting for {what} in {self.folder}")
            time.sleep(0.05)

    def stop(self) -> None:
        for node in [*self.sentinels, *self.data]:
            node.stop()

    # -- what the tests use ---------------------------------------------------------------------
    def url(self, scheme: str = "redis+sentinel", master: str = MASTER_NAME) -> str:
        hosts = ",".join(node.address for node in self.sentinels)
        return f"{scheme}://{hosts}/{master}"

    def master(self) -> Node:
        """The data node the sentinels name now."""
        with self.sentinels[0].client() as client:
            _, port = client.execute_command("SENTINEL", "get-master-addr-by-name", MASTER_NAME)
        return next(node for node in self.data if node.port == int(port))

    def failover(self) -> Node:
        """``SENTINEL FAILOVER`` (no agreement needed); returns the new master once every
        sentinel names it and it says it is a master."""
        old = self.master()
        with self.sentinels[0].client() as client:
            client.execute_command("SENTINEL", "FAILOVER", MASTER_NAME)
        return self.wait_new_master(old)

    def kill_master(self) -> Node:
        """SIGKILL the master; returns the replica the sentinels promote."""
        old = self.master()
        old.stop(kill=True)
        return self.wait_new_master(old)

    def wait_new_master(self, old: Node) -> Node:
        def moved() -> bool:
            for sentinel in self.sentinels:
                if not sentinel.running:
                    continue
                with sentinel.client() as client:
                    _, port = client.execute_command(
                        "SENTINEL", "get-master-addr-by-name", MASTER_NAME
                    )
                if int(port) == old.port:
                    return False
            new = self.master()
            return new.running and new.role() == "master"

        self._wait(moved, "the failover", FAILOVER_SECONDS)
        return self.master()
