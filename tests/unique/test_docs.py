"""docs/enterprise.md runs as written: every ```python example against a server with the
plugins (FAKTORY_URL), and every ```fwp conversation line by line, on both stores."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from faktory_core.protocol import Bulk, ErrorReply, Reply, SimpleString

from .support import Ent, ent, module_redis, serve

__all__ = ["ent", "module_redis", "serve"]  # the fixtures this module uses

DOC = Path(__file__).resolve().parents[2] / "docs" / "enterprise.md"


def blocks(language: str) -> list[tuple[int, str]]:
    """The fenced blocks of ``language`` with the line each starts on."""
    found, current, start = [], None, 0
    for number, line in enumerate(DOC.read_text().splitlines(), 1):
        if current is None and line.strip() == f"```{language}":
            current, start = [], number + 1
        elif current is not None and line.strip() == "```":
            found.append((start, "\n".join(current) + "\n"))
            current = None
        elif current is not None:
            current.append(line)
    return found


PYTHON = blocks("python")
FWP = blocks("fwp")


def test_the_page_has_examples() -> None:
    assert (len(PYTHON), len(FWP)) == (3, 2)


@pytest.mark.parametrize(("line", "code"), PYTHON, ids=[f"line-{n}" for n, _ in PYTHON])
def test_python_example(line: int, code: str, ent: Ent, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKTORY_URL", f"tcp://127.0.0.1:{ent.running.thread.port}")
    monkeypatch.delenv("FAKTORY_PROVIDER", raising=False)
    exec(compile(code, f"{DOC}:{line}", "exec"), {"__name__": "__doc_example__"})


def expected(text: str) -> Any:
    """What an ``S:`` line promises: +OK, -CODE message, or a JSON object holding the keys
    given (``...`` stands for the rest)."""
    if text.startswith("+"):
        return SimpleString(text[1:])
    if text.startswith("-"):
        code, _, message = text[1:].partition(" ")
        return ErrorReply(code, message)
    return json.loads(re.sub(r",\s*\.\.\.\s*}$", "}", text))


def matches(reply: Reply, promise: Any) -> bool:
    if isinstance(promise, dict):
        if not isinstance(reply, Bulk) or reply.data is None:
            return False
        got = json.loads(reply.data)
        return all(got.get(key) == value for key, value in promise.items())
    return reply == promise


@pytest.mark.parametrize(("line", "talk"), FWP, ids=[f"line-{n}" for n, _ in FWP])
def test_wire_example(line: int, talk: str, ent: Ent) -> None:
    conn = ent.conn()
    sent = None
    for number, text in enumerate(talk.splitlines(), line):
        if text.startswith("C: "):
            sent = text[3:]
            conn.send(sent.encode() + b"\r\n")
        elif text.startswith("S: "):
            reply = conn.read()
            assert matches(reply, expected(text[3:])), f"{DOC}:{number}: {sent} -> {reply!r}"
