"""The journal seen over a real socket: INFO's ``server.store``, and -ERR on a failing disk."""

from __future__ import annotations

import errno
import json
import os
import resource
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from faktory_core.clock import SystemClock
from faktory_core.plugins.memory_store import JournalSettings, MemoryStore, journal
from faktory_core.protocol.client import ErrorReply, SimpleString
from faktory_core.testing import FwpSocket, ServerThread


def _job(jid: str) -> dict[str, Any]:
    return {"jid": jid, "jobtype": "T", "args": [], "queue": "q"}


def test_info_shows_the_journal(tmp_path: Path) -> None:
    store = MemoryStore(SystemClock(), path=tmp_path / "memory_store.json")
    with ServerThread(store) as thread:
        conn = FwpSocket.open(thread.port)
        assert conn.json_command("PUSH", _job("job-000001")) == SimpleString("OK")
        details = conn.bulk_json("INFO")["server"]["store"]
        conn.close()
    assert details["fsync"] == "everysec"
    assert details["journal"] == str(tmp_path / "memory_store-00000001.journal")
    assert details["journal_bytes"] > journal.HEADER_SIZE
    assert details["journal_error"] == ""


def test_a_full_disk_answers_err_keeps_reads_and_recovers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(journal, "RETRY_SECONDS", 0.01)
    store = MemoryStore(SystemClock(), path=tmp_path / "memory_store.json")
    real_write = os.write

    def full(fd: int, data: Any) -> int:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    with ServerThread(store) as thread:
        conn = FwpSocket.open(thread.port)
        monkeypatch.setattr(journal.os, "write", full)
        reply = conn.json_command("PUSH", _job("job-000001"))
        assert isinstance(reply, ErrorReply)
        assert reply.code == "ERR"
        assert "cannot write the journal" in reply.message
        assert "No space left on device" in reply.message
        assert isinstance(conn.command("FETCH", "q"), ErrorReply)
        info = conn.bulk_json("INFO")  # reads keep working
        assert "No space left" in info["server"]["store"]["journal_error"]
        monkeypatch.setattr(journal.os, "write", real_write)
        for _ in range(500):
            if conn.json_command("PUSH", _job("job-000002")) == SimpleString("OK"):
                break
        assert conn.bulk_json("INFO")["faktory"]["queues"] == {"q": 2}
        conn.close()


def test_a_file_size_limit_is_a_clear_error_at_push(tmp_path: Path) -> None:
    """RLIMIT_FSIZE in a child process: the write fails with EFBIG (SIGXFSZ is ignored by
    Python), as a full disk would."""
    script = textwrap.dedent(
        f"""
        import asyncio, json, resource
        from pathlib import Path
        from faktory_core.clock import SystemClock
        from faktory_core.errors import StoreError
        from faktory_core.plugins.memory_store import MemoryStore
        from faktory_core.testing.contract import make_job

        async def main():
            store = MemoryStore(SystemClock(), path=Path({str(tmp_path / "memory_store.json")!r}))
            await store.open()
            resource.setrlimit(resource.RLIMIT_FSIZE, (4096, resource.RLIM_INFINITY))
            pushed = 0
            try:
                for _ in range(1000):
                    await store.push(make_job(args=["x" * 100]))
                    pushed += 1
            except StoreError as exc:
                print(json.dumps({{"pushed": pushed, "error": exc.message}}))

        asyncio.run(main())
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    ).stdout
    result = json.loads(out)
    assert 0 < result["pushed"] < 1000
    assert "File too large" in result["error"]
    assert resource.getrlimit(resource.RLIMIT_FSIZE)  # the limit was the child's alone


def test_a_snapshot_that_cannot_be_written_at_stop_exits_non_zero(tmp_path: Path) -> None:
    """The storage directory becomes a file's path: the stop says so, names the path, exits 1,
    and the journal still restores everything."""
    db = tmp_path / "db"
    script = textwrap.dedent(
        f"""
        import asyncio, os
        from pathlib import Path
        from faktory_core.clock import SystemClock
        from faktory_core.plugins.memory_store import MemoryStore
        from faktory_core.testing.contract import make_job

        async def main():
            store = MemoryStore(SystemClock(), path=Path({str(db / "memory_store.json")!r}))
            await store.open()
            await store.push(make_job(jid="kept-000001"))
            os.chmod({str(db)!r}, 0o500)
            os.makedirs({str(db / "memory_store.json")!r})  # rename onto a directory fails
            await store.close()

        asyncio.run(main())
        """
    )
    command = [sys.executable, "-c", script]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode != 0
    assert "cannot write the snapshot" in done.stderr
    assert str(db / "memory_store.json") in done.stderr
    assert "nothing acknowledged is lost" in done.stderr
    os.chmod(db, 0o700)
    os.rmdir(db / "memory_store.json")
    store = MemoryStore(SystemClock(), path=db / "memory_store.json", settings=JournalSettings())
    with ServerThread(store) as thread:
        conn = FwpSocket.open(thread.port)
        assert conn.bulk_json("INFO")["faktory"]["queues"] == {"default": 1}
        conn.close()
