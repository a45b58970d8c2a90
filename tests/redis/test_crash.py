"""faktory-core processes killed with SIGKILL at random instants under load, on the Redis store.

A producer pushes jobs (single PUSHes and PUSHB batches; some scheduled a moment ahead, some meant
to fail once), workers FETCH them and ACK or FAIL them, and a mover requeues the retries with
MUTATE, while the test kills the server process(es) at random moments and starts them again.

Every client records what it sent and what was answered; a command whose answer never came is
*uncertain*. An uncertain push is looked up in Redis before it is sent again, so each jid is
pushed exactly once, and an uncertain ACK or FAIL is sent again at the end (an ACK of a job that
is not reserved is a no-op; a FAIL of one answers "not found"), as a worker would on its next
connection. Then Redis is read directly and every jid is accounted for: it is in exactly one
place (a queue, a sorted set, ``working``) or it was ACKed, never neither (a lost job) and never
both or twice (a duplicate); no job is delivered more often than its story allows (once, or twice
for a job failed once), and the ``processed`` and ``failures`` totals match the ACKs and FAILs
that took effect.

With a reservation of 30 minutes a job comes back only through a FAIL and MUTATE here, so a second
delivery of a plain job can only be a job moved twice. Variants: one server on a Redis of the
test's own; two servers sharing that Redis, each kill hitting one of them at random (both run
schedulers, both requeue retries); one server running its own local Redis, which dies with it
and comes back from disk.
"""

from __future__ import annotations

import json
import os
import random
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import attrs
import pytest
import redis

from faktory_core.protocol.client import Bulk, ErrorReply, SimpleString
from faktory_core.testing import FwpSocket, stop_process
from faktory_core.timefmt import format_ts

from .conftest import RedisServer

QUEUE = "crash"
#: Kills per run, and the real seconds between them (drawn at random).
KILLS = 10
GAP = (0.05, 0.6)
#: Bounds: jobs pushed at most, seconds for a server to answer, for the queues to drain.
MAX_JOBS = 6000
#: Jobs pushed at least, however quickly the kills are over.
MIN_JOBS = 1500
START_SECONDS = 30.0
DRAIN_SECONDS = 90.0
WORKERS = 3

#: Finds a jid anywhere a job can be, in one atomic read: its queue, the three sets, ``working``
#: (by the reservation index or the members themselves). Returns 1 or 0.
FIND_JID = """
local needle = '"jid":"' .. ARGV[1] .. '"'
local function has(items)
  for _, item in ipairs(items) do
    if string.find(item, needle, 1, true) then return true end
  end
  return false
end
if redis.call('HEXISTS', 'fc:reservations', ARGV[1]) == 1 then return 1 end
if has(redis.call('LRANGE', KEYS[1], 0, -1)) then return 1 end
for _, set in ipairs({'scheduled', 'retries', 'dead', 'working'}) do
  if has(redis.call('ZRANGE', set, 0, -1)) then return 1 end
end
return 0
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    """One ``faktory-core --plugin redis_store`` process; ``crash()`` is ``kill -9``."""

    def __init__(
        self,
        folder: Path,
        redis_url: str | None,
        *,
        web: str = ":0",
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.folder = folder
        self.port = _free_port()
        self.web = web
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("FAKTORY_", "REDIS"))}
        self.env["FAKTORY_ENV"] = "development"
        if redis_url:
            self.env["REDIS_URL"] = redis_url
        self.env.update(env or {})
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = folder / "server.log"
        self.starts = 0

    def start(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        command = [
            sys.executable, "-m", "faktory_core.cli", "--plugin", "redis_store",
            "-b", f"127.0.0.1:{self.port}", "-w", self.web,
            "-d", str(self.folder / "db"), "-c", str(self.folder),
        ]  # fmt: skip
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=self.env
            )
        self.starts += 1
        deadline = time.monotonic() + START_SECONDS
        while True:
            if self.proc.poll() is not None:
                raise AssertionError(f"the server exited:\n{self.log.read_text()[-3000:]}")
            try:
                FwpSocket.open(self.port).close()
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise AssertionError(
                        f"no answer on {self.port}:\n{self.log.read_text()}"
                    ) from None
                time.sleep(0.02)

    def crash(self) -> None:
        proc, self.proc = self.proc, None
        assert proc is not None
        stop_process(proc, kill=True, seconds=START_SECONDS)

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        stop_process(proc, seconds=START_SECONDS)


@attrs.define
class Ledger:
    """What the clients know, kept under one lock (they run on threads)."""

    lock: threading.Lock = attrs.field(factory=threading.Lock)
    pushed: list[str] = attrs.field(factory=list)
    fail_once: set[str] = attrs.field(factory=set)
    deliveries: Counter[str] = attrs.field(factory=Counter)
    acked: Counter[str] = attrs.field(factory=Counter)
    failed: set[str] = attrs.field(factory=set)
    uncertain_acks: set[str] = attrs.field(factory=set)
    uncertain_fails: set[str] = attrs.field(factory=set)
    uncertain_pushes: int = 0
    repushed: int = 0
    errors: list[str] = attrs.field(factory=list)

    def note(self, **changes: Any) -> None:
        with self.lock:
            for name, value in changes.items():
                setattr(self, name, getattr(self, name) + value)


class Cluster:
    """The servers, and how clients reach whichever of them is up."""

    def __init__(self, servers: list[Server], raw: Callable[[], redis.Redis]) -> None:
        self.servers = servers
        self.raw = raw
        self.stop = threading.Event()
        self.rng = random.Random()

    def connect(self, only: Server | None = None, **hello: Any) -> FwpSocket:
        """A handshaken connection to a running server (or to ``only``), waiting through
        restarts."""
        deadline = time.monotonic() + START_SECONDS * 2
        while True:
            for server in [only] if only else random.sample(self.servers, len(self.servers)):
                try:
                    conn = FwpSocket.open(server.port, **hello)
                except OSError:
                    continue
                conn.sock.settimeout(START_SECONDS)
                return conn
            if time.monotonic() > deadline:
                raise AssertionError("no server answered")
            time.sleep(0.02)

    def landed(self, jid: str, ledger: Ledger) -> bool:
        """Whether a push whose answer was lost took effect. Redis is read first, in one step;
        a job that left Redis was delivered, and the delivery was recorded before its ACK."""
        with self.raw() as client:
            found = client.eval(FIND_JID, 1, f"q:{QUEUE}", jid)
        with ledger.lock:
            return bool(found) or ledger.deliveries[jid] > 0


def _landed_after_crash(
    cluster: Cluster, ledger: Ledger, pending: list[dict[str, Any]]
) -> tuple[FwpSocket, list[dict[str, Any]]]:
    """A new connection, and which of ``pending`` (whose answers were lost) took effect. The
    next kill may come while this looks -- a server's own Redis goes with it -- so it looks
    again, on a new connection, until one look completes."""
    while True:
        conn = cluster.connect()  # the restarted server's Redis is up once it answers
        # A script the dead server had already written may still wait in Redis's input
        # buffer for a moment (the other server answers at once): let it run first.
        time.sleep(0.2)
        try:
            return conn, [job for job in pending if cluster.landed(job["jid"], ledger)]
        except (OSError, redis.RedisError):
            conn.close()


def _check(reply: object, what: str, ledger: Ledger) -> None:
    if isinstance(reply, ErrorReply):
        with ledger.lock:
            ledger.errors.append(f"{what}: -{reply.code} {reply.message}")


def produce(cluster: Cluster, ledger: Ledger, kills_done: threading.Event) -> None:
    """Push until the kills are over (and MIN_JOBS at least): batches of ten, alternately one
    PUSHB and ten PUSHes."""
    conn: FwpSocket | None = None
    number = 0
    while (number < MIN_JOBS or not kills_done.is_set()) and number < MAX_JOBS:
        batch = []
        for _ in range(10):
            jid = f"crash-{number:06d}"
            job: dict[str, Any] = {"jid": jid, "jobtype": "Plain", "args": [number], "queue": QUEUE}
            if number % 8 == 0:
                job["at"] = format_ts(time.time() + cluster.rng.uniform(0.1, 1.5))
            elif number % 8 == 1:
                job["jobtype"] = "FailOnce"
                job["retry"] = 5
                with ledger.lock:
                    ledger.fail_once.add(jid)
            batch.append(job)
            number += 1
        pending = batch
        while pending:
            try:
                conn = conn or cluster.connect()
                if (number // 10) % 2:
                    reply = conn.json_command("PUSHB", pending)
                    _check(reply, "PUSHB", ledger)
                    if isinstance(reply, Bulk) and reply.data not in (None, b"{}"):
                        ledger.note(errors=[f"PUSHB: {reply.data!r}"])
                else:
                    for job in list(pending):
                        _check(conn.json_command("PUSH", job), "PUSH", ledger)
                        with ledger.lock:
                            ledger.pushed.append(job["jid"])
                        pending.remove(job)
                    continue
                with ledger.lock:
                    ledger.pushed.extend(job["jid"] for job in pending)
                pending = []
            except (OSError, ConnectionError):
                if conn is not None:
                    conn.close()
                ledger.note(uncertain_pushes=1)
                conn, landed = _landed_after_crash(cluster, ledger, pending)
                with ledger.lock:
                    ledger.pushed.extend(job["jid"] for job in landed)
                pending = [job for job in pending if job not in landed]
                ledger.note(repushed=len(pending))
        time.sleep(0.01)  # about 1,000 jobs a second: the load lasts as long as the kills
    if conn is not None:
        conn.close()


def work(cluster: Cluster, ledger: Ledger, wid: str) -> None:
    """FETCH, then FAIL a fail-once job the first time it comes, else ACK."""
    conn: FwpSocket | None = None
    while not cluster.stop.is_set():
        pending: tuple[str, str] | None = None
        try:
            conn = conn or cluster.connect(wid=wid)
            reply = conn.command("FETCH", QUEUE)
            if not isinstance(reply, Bulk):
                _check(reply, "FETCH", ledger)
                continue
            if reply.data is None:
                continue
            jid = json.loads(reply.data)["jid"]
            with ledger.lock:
                ledger.deliveries[jid] += 1
                fail = jid in ledger.fail_once and jid not in ledger.failed
                if fail:
                    ledger.failed.add(jid)
                else:
                    ledger.acked[jid] += 1
            if fail:
                pending = ("FAIL", jid)
                fail_info = {"jid": jid, "errtype": "Crash", "message": "fails once"}
                _check(conn.json_command("FAIL", fail_info), "FAIL", ledger)
            else:
                pending = ("ACK", jid)
                _check(conn.json_command("ACK", {"jid": jid}), "ACK", ledger)
        except (OSError, ConnectionError):
            if conn is not None:
                conn.close()
            conn = None
            if pending is not None:
                with ledger.lock:
                    kind, jid = pending
                    (ledger.uncertain_fails if kind == "FAIL" else ledger.uncertain_acks).add(jid)
    if conn is not None:
        conn.close()


def move(cluster: Cluster, ledger: Ledger, server: Server) -> None:
    """Requeue the failed jobs from ``retries`` every 10 ms through one server. Two movers run,
    so their MUTATEs race for the same entries (as the servers' schedulers do, less often)."""
    conn: FwpSocket | None = None
    mutate = {"cmd": "requeue", "target": "retries", "filter": {"jobtype": "FailOnce"}}
    while not cluster.stop.wait(0.01):
        try:
            conn = conn or cluster.connect(server)
            _check(conn.json_command("MUTATE", mutate), "MUTATE", ledger)
        except (OSError, ConnectionError):
            if conn is not None:
                conn.close()
            conn = None
    if conn is not None:
        conn.close()


def _drained(client: redis.Redis) -> bool:
    pipe = client.pipeline(transaction=False)
    pipe.llen(f"q:{QUEUE}").zcard("scheduled").zcard("retries")
    return not any(pipe.execute())


def _where(client: redis.Redis) -> dict[str, list[str]]:
    """Every jid in Redis, with each place it is found."""
    where: dict[str, list[str]] = {}
    for raw in client.lrange(f"q:{QUEUE}", 0, -1):
        where.setdefault(json.loads(raw)["jid"], []).append("queue")
    for name in ("scheduled", "retries", "dead"):
        for raw in client.zrange(name, 0, -1):
            where.setdefault(json.loads(raw)["jid"], []).append(name)
    for raw in client.zrange("working", 0, -1):
        where.setdefault(json.loads(raw)["job"]["jid"], []).append("working")
    return where


def run_and_account(cluster: Cluster) -> str:
    ledger = Ledger()
    kills_done = threading.Event()
    threads = [
        threading.Thread(target=produce, args=(cluster, ledger, kills_done)),
        *(
            threading.Thread(
                target=move, args=(cluster, ledger, cluster.servers[n % len(cluster.servers)])
            )
            for n in range(2)
        ),
        *(threading.Thread(target=work, args=(cluster, ledger, f"w{n}")) for n in range(WORKERS)),
    ]
    for thread in threads:
        thread.start()
    try:
        for _ in range(KILLS):
            time.sleep(cluster.rng.uniform(*GAP))
            victim = cluster.rng.choice(cluster.servers)
            victim.crash()
            victim.start()
        kills_done.set()
        threads[0].join(START_SECONDS * 4)
        deadline = time.monotonic() + DRAIN_SECONDS
        with cluster.raw() as client:
            while not _drained(client):
                assert time.monotonic() < deadline, "the jobs did not drain"
                time.sleep(0.1)
    finally:
        kills_done.set()
        cluster.stop.set()
        for thread in threads:
            thread.join(START_SECONDS * 4)
    assert not any(thread.is_alive() for thread in threads), "a client thread hung"
    assert not ledger.errors, ledger.errors[:10]

    # What a worker does on its next connection: send the unanswered ACKs and FAILs again.
    conn = cluster.connect()
    for jid in sorted(ledger.uncertain_acks):
        assert conn.json_command("ACK", {"jid": jid}) == SimpleString("OK")
    for jid in sorted(ledger.uncertain_fails):
        reply = conn.json_command("FAIL", {"jid": jid, "errtype": "Crash", "message": "fails once"})
        # Taken now, or taken before (the job is no longer reserved).
        assert reply in (SimpleString("OK"), ErrorReply("ERR", f"Job not found {jid}")), reply
    conn.close()

    with cluster.raw() as client:
        where = _where(client)
        processed = int(client.get("processed") or 0)
        failures = int(client.get("failures") or 0)
        assert client.llen("fc:corrupt") == 0
        assert client.hlen("fc:reservations") == client.zcard("working")

    pushed = Counter(ledger.pushed)
    assert [jid for jid, times in pushed.items() if times > 1] == []
    problems = []
    for jid in pushed:
        places, acked = where.get(jid, []), ledger.acked[jid]
        allowed = 2 if jid in ledger.fail_once else 1
        if len(places) + acked != 1 or ledger.deliveries[jid] > allowed:
            problems.append(
                f"{jid}: in {places}, ACKed {acked}, delivered {ledger.deliveries[jid]}"
            )
    strays = sorted(set(where) - set(pushed))
    assert (problems, strays) == ([], []), f"{len(problems)} jobs lost or duplicated"
    # ``processed`` counts every execution, ACKed or FAILed (Faktory's rule).
    assert processed == sum(ledger.acked.values()) + len(ledger.failed)
    assert failures == len(ledger.failed)
    # The kills did hit work in flight: answers were lost, and still nothing was.
    uncertain = ledger.uncertain_pushes + len(ledger.uncertain_acks) + len(ledger.uncertain_fails)
    assert uncertain > 0
    assert len(pushed) >= MIN_JOBS  # each job the producer made was pushed
    for server in cluster.servers:
        assert "Traceback" not in server.log.read_text(errors="replace"), server.log
    return (
        f"{len(pushed)} jobs, {sum(ledger.deliveries.values())} deliveries, "
        f"{len(ledger.uncertain_acks)} unanswered ACKs, {len(ledger.uncertain_fails)} FAILs, "
        f"{ledger.uncertain_pushes} pushes ({ledger.repushed} jobs pushed again)"
    )


@pytest.fixture
def cluster_of(tmp_path: Path) -> Iterator[Callable[[int, RedisServer | None], Cluster]]:
    made: list[Server] = []

    def build(count: int, shared: RedisServer | None) -> Cluster:
        servers = [
            Server(tmp_path / f"server{n}", shared.url if shared else None) for n in range(count)
        ]
        made.extend(servers)
        for server in servers:
            server.start()
        if shared is not None:
            return Cluster(servers, shared.client)
        socket_path = str(servers[0].folder / "db" / "redis.sock")
        return Cluster(servers, lambda: redis.Redis(unix_socket_path=socket_path))

    yield build
    for server in made:
        server.stop()


@pytest.mark.parametrize("count", [1, 2], ids=["one-server", "two-servers"])
def test_killed_servers_lose_and_duplicate_nothing(
    count: int, cluster_of: Callable[..., Cluster], redis_factory: Callable[..., RedisServer]
) -> None:
    cluster = cluster_of(count, redis_factory(appendonly=True))
    print(run_and_account(cluster))


def test_a_killed_server_and_its_own_redis_lose_nothing(
    cluster_of: Callable[..., Cluster],
) -> None:
    """The server's local Redis gets SIGTERM when the server dies (it saves), and the next
    server finds its socket and data and starts it again."""
    cluster = cluster_of(1, None)
    print(run_and_account(cluster))
