"""docs/tracking.md's Python examples run as written against a server with the plugins."""

from __future__ import annotations

import re
from pathlib import Path

from faktory_core.clock import FakeClock, SystemClock
from faktory_core.plugins import memory_store, throttle, tracking
from faktory_core.plugins.memory_store import MemoryStore
from faktory_core.testing import FwpSocket, ServerThread

DOC = Path(__file__).resolve().parents[2] / "docs" / "tracking.md"


def blocks(kind: str) -> list[str]:
    return re.findall(rf"^```{kind}[ \t]*\n(.*?)^```[ \t]*$", DOC.read_text(), re.M | re.S)


def test_the_python_examples_run() -> None:
    plugins = [("memory_store", memory_store), ("tracking", tracking), ("throttle", throttle)]
    with ServerThread(MemoryStore(SystemClock()), plugins=plugins) as server:
        for code in blocks("python"):
            code = code.replace("localhost:7419", f"127.0.0.1:{server.port}")
            exec(compile(code, str(DOC), "exec"), {"__name__": "__doc_example__"})


def test_the_throttles_example_is_a_valid_table() -> None:
    import tomllib

    from faktory_core.plugins.throttle.config import parse_throttles

    [toml] = blocks("toml")
    throttles = parse_throttles(tomllib.loads(toml))
    assert [t.kind for t in throttles.values()] == ["4 concurrent", "5 per worker", "2 concurrent"]


def test_the_wire_lines_are_what_the_server_says() -> None:
    [wire] = blocks("text")
    clock = FakeClock()  # starts at 2025-06-15T15:06:40Z, the doc's time
    plugins = [("memory_store", memory_store), ("tracking", tracking)]
    with ServerThread(MemoryStore(clock), clock=clock, plugins=plugins) as server:
        conn = FwpSocket.open(server.port)
        try:
            job = b'{"jid":"4d3e1c2b8a9f","jobtype":"Import","args":[],"custom":{"track":1}}'
            conn.call(b"PUSH " + job + b"\r\n")
            conn.command("FETCH", "default")
            for exchange in wire.split("C: ")[1:]:
                sent, *answer = exchange.strip().split("\n")
                expected = "".join(line.removeprefix("S: ") + "\r\n" for line in answer)
                conn.send(sent.encode() + b"\r\n")
                assert _raw_reply(conn) == expected.encode(), sent
        finally:
            conn.close()


def _raw_reply(conn: FwpSocket) -> bytes:
    data = b""
    while not data.endswith(b"\r\n") or (data.startswith(b"$") and data.count(b"\r\n") < 2):
        data += conn.sock.recv(65536)
    return data
