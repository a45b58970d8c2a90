"""Child processes in tests: stopping one the way an operator or a crash would."""

from __future__ import annotations

import signal
import subprocess


def stop_process(
    process: subprocess.Popen[bytes] | None, *, kill: bool = False, seconds: float = 15.0
) -> None:
    """SIGTERM (a graceful stop) or SIGKILL (a crash), then wait; a process that has not
    exited after ``seconds`` is killed, so a test never leaves one behind."""
    if process is None or process.poll() is not None:
        return
    process.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
    try:
        process.wait(seconds)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(seconds)
