"""A Redis deployment with failover, as real processes on 127.0.0.1: one master, one replica
and three sentinels watching them, each on a free TCP port.

Faults are plain signals to the processes the test started: ``pause`` (SIGSTOP, then SIGCONT),
``kill_master`` (SIGKILL, then wait for the sentinels to promote the replica, then start the old
master again, empty and believing it is a master, as a supervisor would restart it; the
sentinels turn it into a replica of the new master).
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import redis

from ..redis.conftest import RedisServer  # noqa: TID252
from ..redis.test_crash import _free_port  # noqa: TID252

MASTER_NAME = "mymaster"
#: Real seconds a Redis or sentinel gets to start, and the sentinels to promote the replica.
START_SECONDS = 15.0
PROMOTE_SECONDS = 40.0
#: The sentinels call the master down after this long without an answer. Longer than any
#: SIGSTOP of the test (:data:`tests.chaos.chaos.PAUSE_SECONDS`), so a pause is not a failover.
DOWN_AFTER_MS = 4000


class Process(RedisServer):
    """One valkey-server (data or sentinel) child on ``127.0.0.1:<port>`` (and, for the test's
    own reads, on ``<folder>/redis.sock``)."""

    def __init__(self, binary: str, folder: Path, arguments: list[str]) -> None:
        super().__init__(binary, folder, port=_free_port(), extra=arguments)

    def signal(self, number: signal.Signals) -> None:
        assert self.process is not None
        assert self.process.poll() is None
        os.kill(self.process.pid, number)

    def stop(self, *, kill: bool = False) -> None:
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGCONT)  # a stopped process cannot take SIGTERM
        super().stop(kill=kill)


class Sentinel(Process):
    def __init__(self, binary: str, folder: Path, master_port: int) -> None:
        super().__init__(binary, folder, [])
        self.master_port = master_port

    def command(self) -> list[str]:
        # A sentinel rewrites its configuration file, so it must have one of its own.
        conf = self.folder / "sentinel.conf"
        conf.write_text(
            f"sentinel monitor {MASTER_NAME} 127.0.0.1 {self.master_port} 2\n"
            f"sentinel down-after-milliseconds {MASTER_NAME} {DOWN_AFTER_MS}\n"
            f"sentinel failover-timeout {MASTER_NAME} 20000\n"
            f"sentinel parallel-syncs {MASTER_NAME} 1\n"
        )
        binary, *options = super().command()
        return [binary, str(conf), "--sentinel", *options]

    def master(self) -> tuple[str, int] | None:
        with self.client() as client:
            found = client.sentinel_get_master_addr_by_name(MASTER_NAME)
        if not found:
            return None
        host = found[0]
        return (host.decode() if isinstance(host, bytes) else host, int(found[1]))


class Topology:
    """Master, replica, three sentinels; which data process is the master now."""

    def __init__(self, binary: str, folder: Path) -> None:
        self.binary = binary
        self.folder = folder
        data = ["--repl-diskless-sync", "yes", "--repl-diskless-sync-delay", "0"]
        self.data = [Process(binary, folder / name, list(data)) for name in ("a", "b")]
        self.master, self.replica = self.data
        self.replica.extra += ["--replicaof", "127.0.0.1", str(self.master.port)]
        #: When the replica was last cut off, the master killed, and the last moment the replica
        #: was seen not yet promoted (``time.time()``; cut off = killed without a lag).
        self.cut_at = self.killed_at = self.promoted_at = 0.0
        self.sentinels = [
            Sentinel(binary, folder / f"sentinel{n}", self.master.port) for n in range(3)
        ]

    @property
    def plain_url(self) -> str:
        return f"redis://127.0.0.1:{self.master.port}/0"

    @property
    def moving_url(self) -> str:
        """A unix socket path that always leads to the master: a symbolic link the test turns
        to the promoted replica's socket once the sentinels have promoted it, as a virtual IP
        or a DNS name that follows the sentinels would be moved."""
        return f"unix://{self.folder / 'master.sock'}"

    def _point_at(self, process: Process) -> None:
        link, temporary = self.folder / "master.sock", self.folder / "master.sock.new"
        temporary.unlink(missing_ok=True)
        temporary.symlink_to(process.socket)
        temporary.replace(link)  # atomic: a connect sees the old target or the new one

    @property
    def sentinel_url(self) -> str:
        hosts = ",".join(f"127.0.0.1:{s.port}" for s in self.sentinels)
        return f"redis+sentinel://{hosts}/{MASTER_NAME}"

    def start(self) -> None:
        self.master.start()
        self._point_at(self.master)
        self.replica.start()
        self.wait_synced()
        for sentinel in self.sentinels:
            sentinel.start()
        self.wait_sentinels()

    def stop(self) -> None:
        for process in [*self.sentinels, *self.data]:
            process.stop()

    def wait_synced(self) -> None:
        deadline = time.monotonic() + START_SECONDS
        while True:
            with self.replica.client() as client:
                if client.info("replication").get("master_link_status") == "up":
                    return
            assert time.monotonic() < deadline, "the replica did not sync"
            time.sleep(0.05)

    def wait_sentinels(self) -> None:
        """Until every sentinel knows the replica and the two other sentinels."""
        deadline = time.monotonic() + START_SECONDS * 2
        for sentinel in self.sentinels:
            while True:
                with sentinel.client() as client:
                    fields = client.sentinel_master(MASTER_NAME)
                if fields["num-slaves"] >= 1 and fields["num-other-sentinels"] >= 2:
                    break
                assert time.monotonic() < deadline, "the sentinels did not find each other"
                time.sleep(0.1)

    def client(self) -> redis.Redis:
        """A connection to the master the test knows of (it changes only in kill_master)."""
        return self.master.client()

    def pause(self, seconds: float) -> None:
        self.master.signal(signal.SIGSTOP)
        try:
            time.sleep(seconds)
        finally:
            self.master.signal(signal.SIGCONT)

    def kill_master(self, lag: float = 0.0) -> float:
        """SIGKILL the master; return once the sentinels name the replica master and it
        answers as one (the seconds that took). The old master is started again, empty.

        With ``lag``, the replica is cut off ``lag`` seconds before the kill: stopped, and its
        replication link closed by the master (what the kernel had buffered for it is read
        before the close), so the master's writes of its last ``lag`` seconds never reach it:
        the loss asynchronous replication allows, made large enough to be seen. The replica
        is continued right after the kill."""
        old, new = self.master, self.replica
        self.cut_at = time.time()
        if lag:
            new.signal(signal.SIGSTOP)
            with old.client() as client:
                client.client_kill_filter(_type="replica")
            time.sleep(lag)
        started = time.monotonic()
        self.killed_at = time.time()
        try:
            old.stop(kill=True)
        finally:
            if lag:
                new.signal(signal.SIGCONT)
        deadline = started + PROMOTE_SECONDS
        self.promoted_at = time.time()
        while True:
            asked = time.time()
            with new.client() as client:
                role = client.execute_command("ROLE")[0]
            if role != b"master":
                self.promoted_at = asked  # no answer before this came from the new master
            named = {self._ask(sentinel) for sentinel in self.sentinels}
            if role == b"master" and named == {("127.0.0.1", new.port)}:
                break
            assert time.monotonic() < deadline, f"no promotion: the sentinels name {named}"
            time.sleep(0.05)
        took = time.monotonic() - started
        self.master, self.replica = new, old
        self._point_at(new)
        old.start()  # as a supervisor would: with its old settings, as a master
        return took

    def _ask(self, sentinel: Sentinel) -> tuple[str, int] | None:
        try:
            return sentinel.master()
        except (redis.ConnectionError, redis.TimeoutError):
            return None

    def wait_replica(self) -> None:
        """Until the sentinels have made the restarted old master a synced replica."""
        deadline = time.monotonic() + PROMOTE_SECONDS
        while True:
            with self.replica.client() as client:
                info = client.info("replication")
            if info.get("role") == "slave" and info.get("master_link_status") == "up":
                return
            assert time.monotonic() < deadline, f"the old master never followed: {info}"
            time.sleep(0.1)
