"""Profilers attached to the server for exactly one measured phase (``--profile DIR``).

- ``py-spy`` (default): Python stacks, ``--nonblocking``. py-spy's default blocking mode stops
  the process with ptrace for each sample, and on this VM those stops land at system calls far
  more often than time spent there warrants: it charged 20-30 % of PUSH and FETCH+ACK to
  ``asyncio.current_task`` (its ``getpid()``), where strace counts 4 getpid calls per command
  and perf puts getpid at 1 %. Non-blocking samples are unbiased; a few stacks come out torn,
  so read the self column, not the totals.
- ``py-spy-native``: blocking, with C frames (biased as above; kept to see C callees).
- ``perf``: the kernel's own sampler (cpu-clock), for the split between the interpreter, C
  extensions and the kernel (``perf report -i DIR/push.perf --no-children --sort dso``).

The figures of a profiled run are not recorded: the profiler perturbs the server.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

ATTACH = 1.0  # seconds a profiler is given to attach before the workers are released
STOP_WAIT = 60.0
RATE = "250"
KINDS = ("py-spy", "py-spy-native", "perf")

Stop = Callable[[], None]
Around = Callable[[str], Stop]


def _command(kind: str, pid: int, out: Path) -> list[str]:
    spy = str(Path(sys.executable).with_name("py-spy"))
    record = [spy, "record", "--pid", str(pid), "--rate", RATE, "--format", "raw", "-o"]
    if kind == "py-spy":
        return [*record, f"{out}.txt", "--nonblocking"]
    if kind == "py-spy-native":
        return [*record, f"{out}.txt", "--native"]
    perf = ["perf", "record", "-F", "999", "-e", "cpu-clock", "-g", "-p", str(pid)]
    return [*perf, "-o", f"{out}.perf"]


def around(kind: str, folder: Path | None, pid: int) -> Around:
    """A function that starts the profiler for a mode and returns the function that stops it."""
    if folder is None:
        return lambda mode: lambda: None
    folder.mkdir(parents=True, exist_ok=True)

    def start(mode: str) -> Stop:
        command = _command(kind, pid, folder / mode)
        proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(ATTACH)

        def stop() -> None:
            proc.send_signal(signal.SIGINT)  # both write their output on SIGINT
            proc.wait(STOP_WAIT)

        return stop

    return start
