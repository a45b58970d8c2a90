"""docs/batches.md's examples run as written: the Python blocks against a real server with the
batch plugin, the wire lines byte for byte."""

from __future__ import annotations

import contextlib
import io
import re
from collections.abc import Callable
from pathlib import Path

import anyio

from faktory_core.client import Settings
from faktory_core.worker.context import Clients, JobContext
from tests.test_docs import pointed_at, python_blocks

from .conftest import Running, fetch, raw

DOC = Path(__file__).resolve().parents[2] / "docs" / "batches.md"


def blocks(kind: str) -> list[str]:
    text = DOC.read_text(encoding="utf-8")
    if kind == "python":
        return python_blocks(text)
    return re.findall(r"^```text[ \t]*\n(.*?)^```[ \t]*$", text, re.M | re.S)


def test_python_examples_run(serve: Callable[..., Running]) -> None:
    server = serve()
    client_example, nested_example, job_example, _testing = blocks("python")
    out = io.StringIO()
    shared: dict[str, object] = {"__name__": "__doc__"}  # the second block reads on
    with contextlib.redirect_stdout(out):
        for title, source in (("client", client_example), ("nested", nested_example)):
            code = compile(pointed_at(source, server.thread.port), f"batches.md {title}", "exec")
            exec(code, shared)
    assert out.getvalue().splitlines() == ["3 3  ", "True"]

    namespace: dict[str, object] = {"__name__": "__doc__"}
    exec(compile(job_example, "batches.md job", "exec"), namespace)
    member = fetch(server.conn())
    assert member is not None
    url = f"tcp://127.0.0.1:{server.thread.port}"
    clients = Clients(lambda: Settings.from_env(url), 1)
    import_file = namespace["import_file"]

    async def run() -> None:
        await import_file(JobContext(member, clients), "rows.csv")  # type: ignore[operator]
        await clients.aclose()

    anyio.run(run)
    pushed = [job for job in server.queued() if job["args"] == ["rows.csv", 1]]
    assert [job["custom"]["bid"] for job in pushed] == [member["custom"]["bid"]]


def test_wire_lines(serve: Callable[..., Running]) -> None:
    (transcript,) = blocks("text")
    conn = serve().conn()
    bid = ""
    lines = transcript.splitlines()
    for sent, expected in zip(lines[::2], lines[1::2], strict=True):
        assert sent.startswith("C: ")
        assert expected.startswith("S: ")
        reply = raw(conn, sent[3:].replace("<bid>", bid).encode() + b"\r\n")
        if not bid:
            bid = reply[5:-2].decode()
        want = expected[3:].replace("<bid>", bid).replace("\\r\\n", "\r\n")
        if want.startswith("{"):
            body = reply.partition(b"\r\n")[2][:-2].decode()
            pattern = re.escape(want).replace(r"\*", r'"[^"]+"')
            assert re.fullmatch(pattern, body), body
        else:
            assert reply == want.encode()


def test_testing_mode_example_runs_without_a_server() -> None:
    """The example points at the default URL, where no server listens in the tests."""
    example = blocks("python")[3]
    exec(compile(example, "batches.md testing", "exec"), {"__name__": "__doc__"})
