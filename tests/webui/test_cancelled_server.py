"""A server whose task group fails (not stopped: cancelled) closes the web UI's listener.

Before the fix, uvicorn's listening server stayed open when the web UI's task was cancelled:
a leaked socket and, with warnings as errors (as this suite runs, and ``-X dev``), uvloop's
"unclosed resource" warning raised inside the loop's close, which then never returned — a
failing test hung the suite instead of failing. The check runs in a child process with
warnings as errors, so a hang fails the test (the child is killed) rather than the suite.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

CHILD = textwrap.dedent(
    """
    from faktory_core.plugins import webui
    from faktory_core.plugins.memory_store import MemoryStore
    from faktory_core.clock import SystemClock
    from faktory_core.testing import ServerThread

    store = MemoryStore(SystemClock())
    with ServerThread(store, plugins=[("webui", webui)], web_binding="127.0.0.1:0") as thread:
        assert webui.web_port(thread.server)
        raise RuntimeError("a task of the server failed")
    """
)


def test_a_failed_task_group_ends_the_process() -> None:
    done = subprocess.run(  # TimeoutExpired (a failure) if the process hangs
        [sys.executable, "-W", "error::ResourceWarning", "-X", "dev", "-c", CHILD],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1, done.stderr
    assert "RuntimeError: a task of the server failed" in done.stderr
