"""The Python examples of docs/plugins.md and docs/store.md run as written.

Each block is executed as a module, the way a plugin package would hold it, and registered with
a real in-process server. The store examples name a ``my_store`` package that does not exist:
the tests provide one whose ``MyStore`` is the memory store, and run the doc's contract-suite
class with pytest in a child process, as a plugin author would.
"""

from __future__ import annotations

import re
import subprocess
import sys
import types
from pathlib import Path
from typing import Any

import pytest

from faktory_core.clock import SystemClock
from faktory_core.hookspecs import hookimpl
from faktory_core.plugins.memory_store import MemoryStore
from faktory_core.protocol import Bulk, ErrorReply, SimpleString
from faktory_core.testing import FwpSocket, ServerThread, StoreContract

DOCS = Path(__file__).resolve().parents[2] / "docs"


def python_blocks(name: str) -> list[str]:
    text = (DOCS / name).read_text(encoding="utf-8")
    return re.findall(r"^```python[ \t]*\n(.*?)^```[ \t]*$", text, re.M | re.S)


PLUGINS = python_blocks("plugins.md")


def as_module(name: str, source: str) -> types.ModuleType:
    module = types.ModuleType(name)
    exec(compile(source, f"docs/plugins.md ({name})", "exec"), module.__dict__)
    return module


@pytest.fixture
def my_store(monkeypatch: pytest.MonkeyPatch) -> None:
    """``my_store.store.MyStore(clock, url=...)``, as the examples import it: the memory store."""

    def make(clock: Any, url: str = "") -> MemoryStore:
        return MemoryStore(clock)

    package, module = types.ModuleType("my_store"), types.ModuleType("my_store.store")
    module.MyStore = make  # type: ignore[attr-defined]
    package.store = module  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "my_store", package)
    monkeypatch.setitem(sys.modules, "my_store.store", module)


def test_plugins_md_has_the_examples_these_tests_run() -> None:
    assert len(PLUGINS) == 6, "docs/plugins.md changed: update tests/plugins/test_doc_examples.py"


def test_a_command_middleware_and_more_commands() -> None:
    ping = as_module("ping", PLUGINS[0])
    middleware = as_module("hello_middleware", PLUGINS[1])
    # Section 5's block continues the module of section 1 (``hookimpl`` is imported there).
    commands = as_module("echo", "from faktory_core.hookspecs import hookimpl\n" + PLUGINS[2])
    plugins = [("ping", ping), ("hello", middleware), ("echo", commands)]
    with ServerThread(MemoryStore(SystemClock()), plugins=plugins) as server:
        conn = FwpSocket.open(server.port)
        assert conn.command("PING") == SimpleString("PONG")
        assert conn.command("ECHO", "hi") == SimpleString("hi")
        assert conn.command("BATCH", "NEW", "{}") == Bulk(b"b-1")
        assert conn.command("BATCH", "COMMIT") == ErrorReply("ERR", "unknown BATCH subcommand")
        job = {"jid": "doc-0000001", "jobtype": "T", "args": []}
        assert conn.json_command("PUSH", job) == SimpleString("OK")
        fetched = conn.bulk_json("FETCH", "default")
        assert fetched["custom"] == {"hello": "world"}
        conn.close()


def test_the_unique_and_expiring_middleware() -> None:
    module = as_module("more_middleware", PLUGINS[1])

    class Contribute:
        def __init__(self, make: Any) -> None:
            self.make = make

        @hookimpl
        def faktory_core_job_middleware(self, config: Any, clock: Any) -> Any:
            return self.make(clock)

    clock = SystemClock()  # a FETCH that finds nothing waits out its 2 s on this clock
    plugins = [
        ("unique", Contribute(lambda clock: module.Unique())),
        ("expiring", Contribute(module.Expiring)),
    ]
    with ServerThread(MemoryStore(clock), clock=clock, plugins=plugins) as server:
        conn = FwpSocket.open(server.port)
        job = {"jid": "doc-0000002", "jobtype": "T", "args": [1]}
        assert conn.json_command("PUSH", job) == SimpleString("OK")
        again = {**job, "jid": "doc-0000003"}
        assert conn.json_command("PUSH", again) == ErrorReply("NOTUNIQUE", "Job not unique")
        gone = {"jid": "doc-0000004", "jobtype": "T", "args": [2], "queue": "late"}
        gone["custom"] = {"expires_at": "2000-01-01T00:00:00Z"}
        assert conn.json_command("PUSH", gone) == SimpleString("OK")
        assert conn.command("FETCH", "late") == Bulk(None)  # expired: discarded at fetch
        assert conn.bulk_json("FETCH", "default")["jid"] == job["jid"]
        conn.close()


def test_a_store_plugin(my_store: None) -> None:
    module = as_module("my_store_plugin", PLUGINS[3])
    config = types.SimpleNamespace(toml={"my_store": {"url": "myproto://elsewhere"}})
    store = module.faktory_core_make_store(config=config, clock=SystemClock())
    assert isinstance(store, MemoryStore)


def test_testing_a_plugin_over_a_real_socket() -> None:
    module = as_module("test_hello", PLUGINS[5])
    module.test_ping()


def test_the_contract_suite_examples_run_under_pytest(tmp_path: Path) -> None:
    """docs/plugins.md §6 and docs/store.md, each as a plugin author's test file."""
    package = tmp_path / "my_store"
    package.mkdir()
    (package / "__init__.py").write_text("from my_store.store import MyStore\n")
    (package / "store.py").write_text(
        "from faktory_core.plugins.memory_store import MemoryStore as MyStore\n"
    )
    (tmp_path / "test_plugins_md.py").write_text(PLUGINS[4])
    [store_md] = python_blocks("store.md")
    (tmp_path / "test_store_md.py").write_text(store_md)
    # What both pages say the suite needs: anyio in auto mode and an anyio_backend fixture.
    (tmp_path / "pytest.ini").write_text("[pytest]\nanyio_mode = auto\n")
    (tmp_path / "conftest.py").write_text(
        "import pytest\n\n\n@pytest.fixture\ndef anyio_backend():\n    return 'asyncio'\n"
    )
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    passed = re.search(r"(\d+) passed", result.stdout)
    assert passed is not None, result.stdout[-2000:]
    suite = [name for name in dir(StoreContract) if name.startswith("test_")]
    # The whole suite (some tests are parametrized), once per page, nothing skipped.
    assert int(passed.group(1)) >= 2 * len(suite)
    assert "skipped" not in result.stdout
