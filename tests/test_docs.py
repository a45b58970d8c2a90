"""The README's examples run as written, against a real server."""

from __future__ import annotations

import ast
import contextlib
import io
import re
from pathlib import Path

from faktory_core.clock import SystemClock
from faktory_core.plugins.memory_store import MemoryStore
from faktory_core.testing.server import FwpSocket, ServerThread

README = Path(__file__).resolve().parent.parent / "README.md"

# The address the README assumes, in the two spellings its example uses.
URL_ADDRESS = re.compile(r"\blocalhost:7419\b")
TUPLE_ADDRESS = re.compile(r"""\(\s*(["'])localhost\1\s*,\s*7419\s*\)""")


def heading(line: str) -> tuple[int, str] | None:
    """(level, title) for an ATX heading line, else None."""
    match = re.match(r"(#{1,6})[ \t]+(.*?)[ \t#]*$", line)
    return (len(match.group(1)), match.group(2)) if match else None


def section(markdown: str, title: str) -> str:
    """The lines under the level-2 heading ``title``, up to the next heading of level 1 or 2;
    lines inside fenced code blocks (a Python comment, say) are never headings."""
    lines: list[str] = []
    inside, fenced = False, False
    for line in markdown.splitlines(keepends=True):
        found = None if fenced else heading(line.rstrip("\n"))
        if line.lstrip().startswith("```"):
            fenced = not fenced
        if found is not None and found[0] <= 2:
            if inside:
                break
            inside = found == (2, title)
            continue
        if inside:
            lines.append(line)
    assert inside, f"README.md has no '## {title}' section"
    return "".join(lines)


def python_blocks(markdown: str) -> list[str]:
    """The bodies of the ```python fenced blocks."""
    return re.findall(r"^```python[ \t]*\n(.*?)^```[ \t]*$", markdown, re.M | re.S)


def tour_example() -> str:
    blocks = python_blocks(section(README.read_text(encoding="utf-8"), "A short tour"))
    assert len(blocks) == 1, f"expected one python block in 'A short tour', found {len(blocks)}"
    return blocks[0]


def pointed_at(source: str, port: int) -> str:
    """The example with the README's address replaced by the test server's."""
    source, urls = URL_ADDRESS.subn(f"127.0.0.1:{port}", source)
    source, tuples = TUPLE_ADDRESS.subn(f'("127.0.0.1", {port})', source)
    assert urls + tuples > 0, "the example no longer names localhost:7419"
    # Every mention of the default port must have been replaced: nothing may reach a real
    # server on this machine.
    assert "7419" not in source, f"an address was left unreplaced:\n{source}"
    return source


def test_tour_example_is_valid_python() -> None:
    ast.parse(tour_example())


def test_short_tour_runs_against_a_server() -> None:
    example = tour_example()
    with ServerThread(MemoryStore(SystemClock())) as server:
        code = compile(pointed_at(example, server.port), "README.md (A short tour)", "exec")
        namespace: dict[str, object] = {"__name__": "__readme__"}
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            exec(code, namespace)
        # The example's ``reader`` (sock.makefile) keeps its connection open after the ``with``
        # block closed the socket; close it so the socket is not left to the garbage collector
        # and the server is not stopped with a client still connected.
        for value in namespace.values():
            if isinstance(value, io.IOBase):
                value.close()

        conn = FwpSocket.open(server.port)
        try:
            info = conn.bulk_json("INFO")
        finally:
            conn.close()

    printed = out.getvalue().strip().splitlines()
    assert printed, "the example printed nothing"
    queues = ast.literal_eval(printed[-1])  # the example prints info["faktory"]["queues"]
    assert queues == {"mail": 1}
    # What it printed is what the server holds.
    assert info["faktory"]["queues"] == {"mail": 1}
    assert info["faktory"]["total_enqueued"] == 1

    # Where the example shows its output in a comment next to print(), that output is right.
    for line in example.splitlines():
        code_part, _, comment = line.partition("#")
        if "print(" in code_part and comment.strip():
            assert ast.literal_eval(comment.strip()) == queues, line
