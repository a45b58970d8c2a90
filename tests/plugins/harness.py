"""A running server on a MemoryStore and a FakeClock, and a blocking client that also reads
replies as raw bytes. Shared by the plugin tests; the fixtures live in ``conftest.py``.

Nothing here waits on time: every FETCH in these tests finds a job, so none blocks on the fake
clock, and the server stops as soon as its context exits.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import attrs

from faktory_core.clock import FakeClock
from faktory_core.plugins.memory_store import MemoryStore
from faktory_core.protocol import (
    NEED_DATA,
    Bulk,
    ErrorReply,
    Reply,
    SimpleString,
    encode_hello,
    parse_hi,
)
from faktory_core.testing import FwpSocket, ServerThread
from faktory_core.timefmt import format_ts

OK = SimpleString("OK")


def make_job(
    jobtype: str = "SomeJob", args: list[Any] | None = None, **extra: Any
) -> dict[str, Any]:
    job: dict[str, Any] = {"jid": uuid.uuid4().hex[:16], "jobtype": jobtype, "args": args or []}
    job.update(extra)
    return job


@attrs.define(eq=False)
class Client(FwpSocket):
    """FwpSocket with the few verbs the plugin tests use."""

    def read_raw(self) -> bytes:
        """The exact bytes of the next reply."""
        raw = bytearray()
        while self.parser.next_reply() is NEED_DATA:
            data = self.sock.recv(65536)
            if not data:
                raise ConnectionError(f"server closed the connection after {bytes(raw)!r}")
            raw += data
            self.parser.receive_data(data)
        return bytes(raw)

    def hello(self, **hello: Any) -> Reply:
        """Read the greeting and answer it; the server's reply to HELLO."""
        return self.call(encode_hello(parse_hi(self.read()), **hello))

    def push_raw(self, job: dict[str, Any]) -> bytes:
        self.send(b"PUSH " + json.dumps(job).encode() + b"\r\n")
        return self.read_raw()

    def push(self, job: dict[str, Any]) -> None:
        reply = self.json_command("PUSH", job)
        assert reply == OK, f"PUSH {job!r} -> {reply!r}"

    def pushb(self, jobs: list[dict[str, Any]]) -> dict[str, str]:
        reply = self.json_command("PUSHB", jobs)
        assert isinstance(reply, Bulk), reply
        assert reply.data is not None
        errors: dict[str, str] = json.loads(reply.data)
        return errors

    def fetch_reply(self, *queues: str) -> Reply:
        return self.command("FETCH", *(queues or ("default",)))

    def fetch(self, *queues: str) -> dict[str, Any]:
        """FETCH that must return a job (a FETCH finding nothing would block the fake clock)."""
        reply = self.fetch_reply(*queues)
        assert isinstance(reply, Bulk), reply
        assert reply.data is not None, "FETCH returned no job"
        job: dict[str, Any] = json.loads(reply.data)
        return job

    def ack(self, jid: str) -> None:
        reply = self.json_command("ACK", {"jid": jid})
        assert reply == OK, f"ACK {jid} -> {reply!r}"

    def fail(self, jid: str, message: str = "boom") -> None:
        payload = {"jid": jid, "errtype": "RuntimeError", "message": message}
        reply = self.json_command("FAIL", payload)
        assert reply == OK, f"FAIL {jid} -> {reply!r}"


def error(code: str, message: str) -> ErrorReply:
    return ErrorReply(code, message)


@attrs.define(eq=False)
class Running:
    """A server in a background thread, its store and its fake clock."""

    thread: ServerThread
    store: MemoryStore
    clock: FakeClock

    @property
    def port(self) -> int:
        return self.thread.port

    def call(self, func: Any, *args: Any) -> Any:
        """Run a coroutine function on the server's event loop (to look into the store)."""
        return self.thread.call(func, *args)

    def at(self, seconds_from_now: float) -> str:
        """A timestamp relative to the server's clock, as Faktory writes them."""
        return format_ts(self.clock.now() + seconds_from_now)

    def queued(self, queue: str = "default") -> list[str]:
        """Jids in ``queue``, in FETCH order (oldest first)."""
        jobs = self.call(self.store.queue_page, queue, 0, 1000)
        return [job.jid for job in reversed(jobs)]

    def reserved(self) -> list[str]:
        return [r.job.jid for r in self.call(self.store.reservations)]
