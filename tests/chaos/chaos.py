"""The chaos run: clients over three servers while faults hit the servers and Redis; then the
accounting. docs/chaos.md says what it checks and why each bound is what it is.

Clients (threads of the test process, raw FWP):

- producers, one per server, push batches of ten (alternately one PUSHB and ten PUSHes); of every
  ten jobs two are scheduled 1-2 s ahead (``later``), one fails once then succeeds (``flaky``,
  retry 5), one fails every time (``doomed``, retry 3), the rest succeed (``plain``);
- workers, two per server, FETCH and then ACK or FAIL as the job's kind says;
- movers: one per server requeues ``flaky`` jobs from ``retries`` (MUTATE requeue), two kill
  ``doomed`` ones from ``retries`` into ``dead`` (MUTATE kill), all racing for the same entries;
- the servers' cron plugin: :data:`CRON_ENTRIES` entries ``* * * * *`` (cron has no seconds
  field; see docs/chaos.md), each tick claimed once by whichever server gets there first.

An answer that never came (the server was killed) or an ``-ERR`` (Redis was away) makes a
command *uncertain*: a push is looked up in Redis and sent again if it did not land; an ACK or
FAIL is sent again at the end, as a worker would on its next connection.
"""

from __future__ import annotations

import json
import random
import threading
import time
import urllib.request
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from typing import Any

import attrs
import redis

from faktory_core.protocol.client import Bulk, ErrorReply, SimpleString
from faktory_core.testing import FwpSocket
from faktory_core.timefmt import format_ts

from ..redis.test_crash import FIND_JID, QUEUE, Cluster, Server, _where  # noqa: TID252
from .topology import Topology

#: Threads per role; producers push ten jobs every PUSH_PAUSE seconds each.
PRODUCERS = 3
WORKERS_PER_SERVER = 2
PUSH_PAUSE = 0.1
#: Cron entries, all ``* * * * *``.
CRON_ENTRIES = 4
#: ``retry`` of the kinds that fail; a doomed job may come back through the retry scheduler
#: (a retry is due 15 s or more later) before a mover kills it, at most ``retry`` times.
FLAKY_RETRY = 5
DOOMED_RETRY = 3
#: Seconds the master stays stopped (below the sentinels' down-after, so not a failover).
PAUSE_SECONDS = 2.5
#: Writes the old master answered after the replica was cut off (below) are missing from the
#: promoted replica. A job's command answered from CUT_SLACK seconds before the cut until the
#: promotion may therefore be undone: until the promotion no other master could answer it.
CUT_SLACK = 0.5
#: Seconds the replica is held back (SIGSTOP) before the master is killed: on 127.0.0.1 it
#: trails the master by microseconds, and the loss the window allows would hardly ever be seen.
REPLICA_LAG = 0.5
#: Seconds after a fault's end during which -ERR answers are expected (a server restarting, the
#: store reconnecting to a promoted master).
SETTLE_SECONDS = 10.0
#: Bounds on the run.
MIN_LOAD_SECONDS = 30.0
DRAIN_SECONDS = 90.0
JOIN_SECONDS = 120.0
ANY_SERVER_SECONDS = 60.0

KIND_PLAN = ("later", "later", "flaky", "doomed", "plain", "plain", "plain", "plain", "plain")


def cron_toml() -> str:
    return "".join(
        f'[[cron]]\nname = "tick-{n}"\nschedule = "* * * * *"\n'
        f'[cron.job]\ntype = "Tick"\nqueue = "{QUEUE}"\nargs = [{n}]\n\n'
        for n in range(CRON_ENTRIES)
    )


@attrs.define
class Fault:
    name: str
    start: float
    end: float = 0.0
    detail: str = ""


@attrs.define
class Ledger:
    """What the clients know, under one lock; every time is ``time.time()``."""

    lock: threading.Lock = attrs.field(factory=threading.Lock)
    kinds: dict[str, str] = attrs.field(factory=dict)
    pushed: dict[str, float] = attrs.field(factory=dict)
    #: Answered commands on each jid (push landed, delivered, ACK/FAIL answered +OK).
    ops: defaultdict[str, list[float]] = attrs.field(factory=lambda: defaultdict(list))
    deliveries: Counter[str] = attrs.field(factory=Counter)
    acked: Counter[str] = attrs.field(factory=Counter)
    failed: Counter[str] = attrs.field(factory=Counter)
    ticks: dict[str, int] = attrs.field(factory=dict)
    uncertain_acks: set[str] = attrs.field(factory=set)
    uncertain_fails: set[str] = attrs.field(factory=set)
    uncertain_pushes: int = 0
    uncertain_fetches: int = 0
    repushed: int = 0
    #: -ERR answers: (when, what).
    errors: list[tuple[float, str]] = attrs.field(factory=list)
    #: Things that are wrong whenever they happen (a job nobody pushed, an unexpected answer).
    wrong: list[str] = attrs.field(factory=list)

    def error(self, what: str, reply: ErrorReply) -> None:
        with self.lock:
            self.errors.append((time.time(), f"{what}: -{reply.code} {reply.message}"))

    def op(self, jid: str) -> None:
        with self.lock:
            self.ops[jid].append(time.time())


class Chaos:
    """One run: the topology, the servers, the clients, the faults, the ledger."""

    def __init__(self, topology: Topology, servers: list[Server], *, failover: bool) -> None:
        self.topology = topology
        self.servers = servers
        self.failover = failover
        self.cluster = Cluster(servers, topology.client)
        self.ledger = Ledger()
        self.faults: list[Fault] = []
        self.stop_pushing = threading.Event()
        self.stop = threading.Event()
        self.rng = random.Random()
        #: (start, end, kill) of the window of answers the failover may undo; None: no failover.
        self.failover_window: tuple[float, float, float] | None = None

    # -- connections ---------------------------------------------------------------------------

    def connect(self, near: Server, **hello: Any) -> FwpSocket:
        """``near`` if it answers, else any server that does (waiting through restarts)."""
        try:
            conn = FwpSocket.open(near.port, **hello)
        except (OSError, ConnectionError):
            return self.cluster.connect(**hello)
        conn.sock.settimeout(30.0)
        return conn

    def redis_call(self, action: Callable[[redis.Redis], Any]) -> Any:
        """``action`` on the current master, retried while Redis is failing over."""
        deadline = time.monotonic() + ANY_SERVER_SECONDS
        while True:
            try:
                with self.topology.client() as client:
                    return action(client)
            except (redis.ConnectionError, redis.TimeoutError, redis.ReadOnlyError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def landed(self, jid: str) -> bool:
        found = self.redis_call(lambda client: client.eval(FIND_JID, 1, f"q:{QUEUE}", jid))
        with self.ledger.lock:
            return bool(found) or self.ledger.deliveries[jid] > 0

    # -- clients -------------------------------------------------------------------------------

    def produce(self, index: int) -> None:
        ledger, near = self.ledger, self.servers[index % len(self.servers)]
        conn: FwpSocket | None = None
        number = 0
        while not self.stop_pushing.is_set():
            batch = []
            for _ in range(10):
                jid = f"p{index}-{number:06d}"
                kind = KIND_PLAN[number % len(KIND_PLAN)]
                job: dict[str, Any] = {
                    "jid": jid,
                    "jobtype": kind,
                    "args": [number],
                    "queue": QUEUE,
                }
                if kind == "later":
                    job["at"] = format_ts(time.time() + self.rng.uniform(1.0, 2.0))
                elif kind in ("flaky", "doomed"):
                    job["retry"] = FLAKY_RETRY if kind == "flaky" else DOOMED_RETRY
                with ledger.lock:
                    ledger.kinds[jid] = kind
                batch.append(job)
                number += 1
            use_pushb = (number // 10) % 2 == 1
            pending = batch
            while pending:
                try:
                    conn = conn or self.connect(near)
                    pending = self._push(conn, pending, use_pushb)
                except (OSError, ConnectionError):
                    if conn is not None:
                        conn.close()
                    conn = None
                    pending = self._settle_pushes(pending)
            time.sleep(PUSH_PAUSE)
        if conn is not None:
            conn.close()

    def _push(self, conn: FwpSocket, jobs: list[dict[str, Any]], use_pushb: bool) -> list[Any]:
        """Push ``jobs``; the ones still to push (uncertain ones settled)."""
        ledger = self.ledger
        if use_pushb:
            reply = conn.json_command("PUSHB", jobs)
            if isinstance(reply, ErrorReply):
                ledger.error("PUSHB", reply)
                return self._settle_pushes(jobs)
            assert isinstance(reply, Bulk), reply
            refused = json.loads(reply.data or b"{}")
            for job in jobs:
                if job["jid"] not in refused:
                    self._pushed(job["jid"])
            if refused:
                with ledger.lock:
                    ledger.errors.append((time.time(), f"PUSHB: {refused}"))
            return self._settle_pushes([job for job in jobs if job["jid"] in refused])
        for index, job in enumerate(jobs):
            reply = conn.json_command("PUSH", job)
            if isinstance(reply, ErrorReply):
                ledger.error("PUSH", reply)
                return self._settle_pushes(jobs[index:])
            self._pushed(job["jid"])
        return []

    def _pushed(self, jid: str) -> None:
        with self.ledger.lock:
            if jid in self.ledger.pushed:
                self.ledger.wrong.append(f"{jid} pushed twice by the producer")
            self.ledger.pushed[jid] = time.time()
            self.ledger.ops[jid].append(time.time())

    def _settle_pushes(self, jobs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The uncertain ``jobs`` that did not land (each found in Redis counts as pushed)."""
        with self.ledger.lock:  # the ones answered before the connection broke are pushed
            jobs = [job for job in jobs if job["jid"] not in self.ledger.pushed]
        if not jobs:
            return []
        with self.ledger.lock:
            self.ledger.uncertain_pushes += 1
        # A script a dead server had already written may still wait in Redis's input buffer.
        time.sleep(0.2)
        left = []
        for job in jobs:
            if self.landed(job["jid"]):
                self._pushed(job["jid"])
            else:
                left.append(job)
        with self.ledger.lock:
            self.ledger.repushed += len(left)
        return left

    def work(self, near: Server, wid: str) -> None:
        ledger = self.ledger
        conn: FwpSocket | None = None
        while not self.stop.is_set():
            pending: tuple[str, str] | None = None
            fetching = False
            try:
                conn = conn or self.connect(near, wid=wid)
                fetching = True
                reply = conn.command("FETCH", QUEUE)
                fetching = False
                if isinstance(reply, ErrorReply):
                    ledger.error("FETCH", reply)
                    time.sleep(0.05)
                    continue
                assert isinstance(reply, Bulk), reply
                if reply.data is None:
                    continue
                job = json.loads(reply.data)
                pending = self._decide(job)
                verb, jid = pending
                if verb == "ACK":
                    reply = conn.json_command("ACK", {"jid": jid})
                else:
                    failure = {"jid": jid, "errtype": "Chaos", "message": "planned failure"}
                    reply = conn.json_command("FAIL", failure)
                if reply == SimpleString("OK"):
                    ledger.op(jid)
                    continue
                assert isinstance(reply, ErrorReply), reply
                ledger.error(verb, reply)
                self._uncertain(pending)
            except (OSError, ConnectionError):
                if conn is not None:
                    conn.close()
                conn = None
                if fetching:
                    with ledger.lock:
                        ledger.uncertain_fetches += 1
                if pending is not None:
                    self._uncertain(pending)
        if conn is not None:
            conn.close()

    def _decide(self, job: dict[str, Any]) -> tuple[str, str]:
        """Record a delivery; ACK or FAIL it as its kind says."""
        ledger, jid = self.ledger, job["jid"]
        with ledger.lock:
            ledger.deliveries[jid] += 1
            ledger.ops[jid].append(time.time())
            if job["jobtype"] == "Tick":
                ledger.ticks[jid] = job["args"][0]
                kind = "Tick"
            else:
                kind = ledger.kinds.get(jid, "")
                if kind != job["jobtype"]:
                    ledger.wrong.append(f"delivered a job nobody pushed: {job}")
            fail = kind == "doomed" or (kind == "flaky" and ledger.failed[jid] == 0)
            (ledger.failed if fail else ledger.acked)[jid] += 1
        return ("FAIL" if fail else "ACK", jid)

    def _uncertain(self, pending: tuple[str, str]) -> None:
        verb, jid = pending
        with self.ledger.lock:
            (self.ledger.uncertain_acks if verb == "ACK" else self.ledger.uncertain_fails).add(jid)

    def move(self, near: Server, command: dict[str, Any]) -> None:
        conn: FwpSocket | None = None
        while not self.stop.wait(0.05):
            try:
                conn = conn or self.connect(near)
                reply = conn.json_command("MUTATE", command)
                if isinstance(reply, ErrorReply):
                    self.ledger.error("MUTATE", reply)
            except (OSError, ConnectionError):
                if conn is not None:
                    conn.close()
                conn = None
        if conn is not None:
            conn.close()

    def threads(self) -> Iterator[threading.Thread]:
        requeue = {"cmd": "requeue", "target": "retries", "filter": {"jobtype": "flaky"}}
        kill = {"cmd": "kill", "target": "retries", "filter": {"jobtype": "doomed"}}
        for n in range(PRODUCERS):
            yield threading.Thread(target=self.produce, args=(n,), name=f"producer{n}")
        for n, server in enumerate(self.servers):
            for w in range(WORKERS_PER_SERVER):
                wid = f"w{n}-{w}"
                yield threading.Thread(target=self.work, args=(server, wid), name=wid)
            yield threading.Thread(target=self.move, args=(server, requeue), name=f"requeue{n}")
        for n in range(2):
            server = self.servers[(n + 1) % len(self.servers)]
            yield threading.Thread(target=self.move, args=(server, kill), name=f"kill{n}")

    # -- faults --------------------------------------------------------------------------------

    def plan(self, started: float) -> list[tuple[float, str, Callable[[], str]]]:
        """(when, name, action) for each fault; one server is killed just after the next
        minute's cron tick, when the tick falls within the run."""
        steps: list[tuple[float, str, Callable[[], str]]] = [
            (started + 2.0, "kill server 0", lambda: self.kill_server(0)),
            (started + 7.0, "SIGSTOP master", self.pause_master),
            (started + 22.0, "kill server 2", lambda: self.kill_server(2)),
        ]
        if self.failover:
            steps.append((started + 13.0, "kill master", self.kill_master))
        tick = (int(started) // 60 + 1) * 60 + 0.3
        if tick - started <= 45.0:
            steps.append((tick, "kill server 1 after a cron tick", lambda: self.kill_server(1)))
        return sorted(steps, key=lambda step: step[0])

    def kill_server(self, index: int) -> str:
        server = self.servers[index]
        server.crash()
        server.start()
        return f"port {server.port}, start #{server.starts}"

    def pause_master(self) -> str:
        self.topology.pause(PAUSE_SECONDS)
        return f"{PAUSE_SECONDS} s"

    def kill_master(self) -> str:
        topology = self.topology
        took = topology.kill_master(REPLICA_LAG)
        self.failover_window = (
            topology.cut_at - CUT_SLACK,
            topology.promoted_at,
            topology.killed_at,
        )
        return f"replica held back {REPLICA_LAG} s, promoted {took:.1f} s after the kill"

    def run_faults(self, started: float) -> None:
        for when, name, action in self.plan(started):
            time.sleep(max(0.0, when - time.time()))
            fault = Fault(name, time.time())
            self.faults.append(fault)
            fault.detail = action()
            fault.end = time.time()

    # -- the run -------------------------------------------------------------------------------

    def run(self) -> None:
        threads = list(self.threads())
        for thread in threads:
            thread.start()
        started = time.time()
        try:
            self.run_faults(started)
            time.sleep(max(0.0, started + MIN_LOAD_SECONDS - time.time(), 3.0))
            self.stop_pushing.set()
            for thread in threads[:PRODUCERS]:
                thread.join(JOIN_SECONDS)
            self.drain()
        finally:
            self.stop_pushing.set()
            self.stop.set()
            for thread in threads:
                thread.join(JOIN_SECONDS)
        assert not any(thread.is_alive() for thread in threads), "a client thread hung"
        if self.failover:
            self.topology.wait_replica()

    def drain(self) -> None:
        deadline = time.monotonic() + DRAIN_SECONDS

        def busy(client: redis.Redis) -> int:
            pipe = client.pipeline(transaction=False)
            pipe.llen(f"q:{QUEUE}").zcard("scheduled").zcard("retries")
            return sum(pipe.execute())

        while self.redis_call(busy):
            assert time.monotonic() < deadline, "the jobs did not drain"
            time.sleep(0.2)

    def resend_uncertain(self) -> None:
        """What a worker does on its next connection: send unanswered ACKs and FAILs again."""
        conn = self.cluster.connect()
        for jid in sorted(self.ledger.uncertain_acks):
            assert conn.json_command("ACK", {"jid": jid}) == SimpleString("OK")
        for jid in sorted(self.ledger.uncertain_fails):
            failure = {"jid": jid, "errtype": "Chaos", "message": "planned failure"}
            reply = conn.json_command("FAIL", failure)
            # Taken now, or taken before (the job is no longer reserved).
            assert reply in (SimpleString("OK"), ErrorReply("ERR", f"Job not found {jid}")), reply
        conn.close()

    def web_pages(self) -> list[int]:
        """The status of each server's web UI front page."""
        statuses = []
        for server in self.servers:
            url = f"http://{server.web}/"
            with urllib.request.urlopen(url, timeout=30) as response:
                statuses.append(response.status)
        return statuses


def cron_claims(client: redis.Redis) -> dict[str, tuple[str, int]]:
    """jid -> (entry, tick) of every cron claim in the store's key-value space."""
    claims = {}
    for key in client.scan_iter(match="kv:cron:tick-*:*", count=1000):
        name, tick = key.decode()[len("kv:cron:") :].rsplit(":", 1)
        if not tick.isdigit():
            continue  # ``last`` and ``paused`` records
        jid = client.hget(key, "v")
        assert jid is not None, key
        claims[jid.decode()] = (name, int(tick))
    return claims


@attrs.define
class Report:
    """What the accounting found; ``problems`` fail the test, the rest is measured."""

    problems: list[str] = attrs.field(factory=list)
    #: Anomalies explained by the failover: (jid, what, seconds between the kill and the
    #: job's last answered command before it).
    replication_losses: list[tuple[str, str, float]] = attrs.field(factory=list)
    lines: list[str] = attrs.field(factory=list)


def account(chaos: Chaos) -> Report:
    ledger, report = chaos.ledger, Report()
    chaos.resend_uncertain()

    def read(client: redis.Redis) -> dict[str, Any]:
        return {
            "where": _where(client),
            "processed": int(client.get("processed") or 0),
            "failures": int(client.get("failures") or 0),
            "corrupt": client.llen("fc:corrupt"),
            "index": client.hlen("fc:reservations"),
            "working": client.zcard("working"),
            "claims": cron_claims(client),
        }

    state = chaos.redis_call(read)
    where: dict[str, list[str]] = state["where"]
    claims: dict[str, tuple[str, int]] = state["claims"]
    if state["corrupt"]:
        report.problems.append(f"{state['corrupt']} corrupt entries")
    if state["index"] != state["working"]:
        report.problems.append(f"reservations index {state['index']} != working {state['working']}")
    report.problems.extend(ledger.wrong)

    window = chaos.failover_window

    def in_window(t: float) -> bool:
        return window is not None and window[0] <= t <= window[1]

    def judge(jid: str, what: str) -> None:
        """A wrong job: explained by the failover if one of its commands was answered within
        the window, else a problem. Its age: the latest such answer, before the kill."""
        near = [t for t in ledger.ops[jid] if in_window(t)]
        if window is not None and near:
            report.replication_losses.append((jid, what, window[2] - max(near)))
            return
        report.problems.append(f"{jid}: {what}")

    allowed = {"plain": 1, "later": 1, "flaky": 2, "doomed": DOOMED_RETRY + 1}
    for jid in ledger.kinds:
        if jid not in ledger.pushed:
            report.problems.append(f"{jid}: made but never pushed")
    for jid, kind in ledger.kinds.items():
        if jid not in ledger.pushed:
            continue
        places, acked, delivered = where.get(jid, []), ledger.acked[jid], ledger.deliveries[jid]
        story = f"{kind}: in {places}, ACKed {acked}, delivered {delivered}"
        if len(places) + acked != 1:
            judge(jid, f"{'lost' if not places and not acked else 'duplicated'} ({story})")
        elif delivered > allowed[kind]:
            judge(jid, f"delivered beyond its bound of {allowed[kind]} ({story})")
        elif kind == "doomed" and places not in (["dead"], ["working"], ["retries"]):
            judge(jid, f"not dead ({story})")

    # Cron: every tick job is a claim's, present or ACKed once; each entry fired.
    tick_jids = set(ledger.ticks) | {jid for jid in where if jid not in ledger.kinds}
    for jid in sorted(tick_jids):
        places, acked = where.get(jid, []), ledger.acked[jid]
        if jid not in claims:
            judge(jid, f"a cron job no claim names (fired twice, or a stray): in {places}")
        elif len(places) + acked != 1 or ledger.deliveries[jid] > 1:
            judge(jid, f"cron job in {places}, ACKed {acked}, delivered {ledger.deliveries[jid]}")
    fired = Counter(claims[jid][0] for jid in tick_jids if jid in claims)
    for n in range(CRON_ENTRIES):
        if fired[f"tick-{n}"] == 0:
            report.problems.append(f"cron entry tick-{n} never fired")
    unpushed = [claim for jid, claim in claims.items() if jid not in tick_jids]

    # -ERR answers only while a fault lasts (and a little after), and each one the store's
    # error, never the server's "internal error" (a bug it logged).
    for when, what in ledger.errors:
        if "internal error" in what:
            report.problems.append(f"an internal error at {format_ts(when)}: {what}")
        if not any(f.start - 0.5 <= when <= f.end + SETTLE_SECONDS for f in chaos.faults):
            report.problems.append(f"-ERR outside any fault, at {format_ts(when)}: {what}")

    expected_processed = sum(ledger.acked.values()) + sum(ledger.failed.values())
    expected_failures = sum(ledger.failed.values())
    gap = (expected_processed - state["processed"], expected_failures - state["failures"])
    # Only ACKs and FAILs the old master answered in the window may be missing from them.
    answers = sum(in_window(t) for times in ledger.ops.values() for t in times)
    if not 0 <= gap[1] <= gap[0] <= answers:
        report.problems.append(f"processed/failures off by {gap}; {answers} answers in window")

    kinds = Counter(ledger.kinds[jid] for jid in ledger.pushed)
    report.lines += [
        "faults: "
        + "; ".join(f"{f.name} ({f.detail}, {f.end - f.start:.1f} s)" for f in chaos.faults),
        f"{len(ledger.pushed)} jobs pushed ({dict(kinds)}), "
        f"{sum(ledger.deliveries.values())} deliveries, {sum(ledger.failed.values())} FAILs",
        f"uncertain: {ledger.uncertain_pushes} pushes ({ledger.repushed} jobs pushed again), "
        f"{ledger.uncertain_fetches} FETCHes, {len(ledger.uncertain_acks)} ACKs, "
        f"{len(ledger.uncertain_fails)} FAILs; -ERR answers: "
        f"{dict(Counter(what.split(':')[0] for _, what in ledger.errors))}",
        f"cron: {sum(fired.values())} tick jobs for {len(claims)} claims "
        f"({len(unpushed)} claimed but not pushed), per entry {dict(fired)}",
        f"at the end: {Counter(p for places in where.values() for p in places)}; "
        f"counters off by {gap} (processed, failures)",
    ]
    if window is not None:
        ages = [age for _, _, age in report.replication_losses]
        start, end, kill = window
        report.lines.append(
            f"replication losses: {len(report.replication_losses)}"
            + (f", answered {min(ages):.3f}-{max(ages):.3f} s before the kill" if ages else "")
            + f" (window {start - kill:.3f} to +{end - kill:.3f} s around it)"
        )
        report.lines += [f"  {jid}: {what}" for jid, what, _ in report.replication_losses[:20]]
    return report
