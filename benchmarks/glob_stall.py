"""How long a MUTATE glob holds the event loop: compile time by size and shape, and the worst
wait another client sees while MUTATEs with the longest accepted glob run.

    .venv/bin/python benchmarks/glob_stall.py [--entries 2000] [--rounds 20]

Part 1 times ``compile_glob`` (cache cleared) for 4 shapes at 1 KiB, MAX_GLOB_BYTES (4 KiB)
and, through the old byte-by-byte compiler kept below for comparison, 400 KB (what a client
could send before the limit). Part 2 starts an in-process server on the memory store with
``--entries`` scheduled jobs, has one connection send ``--rounds`` MUTATE kills whose 4 KiB
star-heavy glob matches nothing (compile + a full scan), while a second connection sends INFO
in a loop; it prints that connection's worst and median round trip, and the same with no
MUTATE running.
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import threading
import time
import uuid
from collections.abc import Callable

from faktory_core.clock import SystemClock
from faktory_core.glob import MAX_GLOB_BYTES, compile_glob
from faktory_core.plugins.memory_store import MemoryStore
from faktory_core.testing import FwpSocket, ServerThread
from faktory_core.timefmt import format_ts

SHAPES: dict[str, Callable[[int], bytes]] = {
    "literal": lambda n: b"a" * n,
    "stars": lambda n: b"a*" * (n // 2),
    "classes": lambda n: b"[ab]" * (n // 4),
    "questions": lambda n: b"?" * n,
}


def old_compile(pattern: bytes) -> re.Pattern[bytes]:
    """The compiler before issue 13 for literals, '?' and '*' (classes left out): one escape
    and one bytes concatenation per byte, no length limit."""
    segments: list[bytes] = [b""]
    for char in pattern:
        if char == 0x2A:
            segments.append(b"")
        elif char == 0x3F:
            segments[-1] += b"."
        else:
            segments[-1] += re.escape(bytes([char]))
    if len(segments) == 1:
        return re.compile(segments[0] + rb"\Z", re.DOTALL)
    first, *middle, last = segments
    body = b"".join(b"(?>.*?" + s + b")" for s in middle if s)
    return re.compile(first + body + b".*" + last + rb"\Z", re.DOTALL)


def timed(func: Callable[[], object]) -> float:
    started = time.perf_counter()
    func()
    return (time.perf_counter() - started) * 1000


def compile_times() -> None:
    print("| shape | 1 KiB (ms) | 4 KiB, the limit (ms) | 400 KB, old compiler (ms) |")
    print("|---|---|---|---|")
    for name, make in SHAPES.items():
        row = []
        for size in (1024, MAX_GLOB_BYTES):
            compile_glob.cache_clear()
            row.append(f"{timed(lambda: compile_glob(make(size))):.1f}")  # noqa: B023
        if name == "classes":
            row.append("—")
        else:
            pattern = make(400_000)
            row.append(f"{timed(lambda: old_compile(pattern)):.0f}")  # noqa: B023
        print(f"| {name} | " + " | ".join(row) + " |")


def stall(entries: int, rounds: int) -> None:
    store = MemoryStore(SystemClock())
    with ServerThread(store) as thread:
        setup = FwpSocket.open(thread.port)
        at = format_ts(time.time() + 3600)
        for start in range(0, entries, 1000):
            batch = [
                {"jid": uuid.uuid4().hex, "jobtype": "J", "args": [i], "at": at}
                for i in range(start, min(start + 1000, entries))
            ]
            setup.json_command("PUSHB", batch)
        glob = ("*x" * (MAX_GLOB_BYTES // 2))[:MAX_GLOB_BYTES]
        op = {"cmd": "kill", "target": "scheduled", "filter": {"regexp": glob}}
        for label, busy in (("idle", False), ("during MUTATE", True)):
            done = threading.Event()

            def mutator(done: threading.Event = done, busy: bool = busy) -> None:
                conn = FwpSocket.open(thread.port)
                for _ in range(rounds if busy else 0):
                    compile_glob.cache_clear()  # each MUTATE pays the compile, as new globs do
                    conn.json_command("MUTATE", op)
                if not busy:
                    time.sleep(1.0)
                done.set()
                conn.close()

            probe = FwpSocket.open(thread.port)
            waits: list[float] = []
            worker = threading.Thread(target=mutator)
            worker.start()
            while not done.is_set():
                waits.append(timed(lambda: probe.command("INFO")))  # noqa: B023
            worker.join()
            probe.close()
            print(
                f"INFO round trip {label}: median {statistics.median(waits):.2f} ms, "
                f"worst {max(waits):.1f} ms over {len(waits)} calls"
            )
        setup.close()


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args(argv)
    compile_times()
    print()
    stall(args.entries, args.rounds)


if __name__ == "__main__":
    main(sys.argv[1:])
