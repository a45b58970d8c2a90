"""How long other clients wait behind one heavy command (issue 13, item 8 and 9).

    .venv/bin/python benchmarks/stall.py --jobs 200000 --password-tries 200

A server (memory store, uvloop) runs in a child process. A "victim" client sends PUSH after
PUSH and records each round trip, first alone (baseline), then while an "attacker" sends:

- ``pushb``: one PUSHB of ``--jobs`` jobs (~15 MiB at 200k);
- ``auth``: ``--password-tries`` HELLOs with a wrong password, one after another, from
  ``--auth-conns`` connections at once;
- ``fetch``: FETCHes naming 1000 queues (the max_fetch_queues default), back to back.

Prints the victim's p50/p99/max round trip in ms for each. Numbers: docs/performance.md.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import statistics
import threading
import time
from typing import Any

from faktory_core.protocol import ErrorReply, encode_hello, parse_hi
from faktory_core.testing import FwpSocket

PASSWORD = "bench-password"


def serve(conn: Any, password: str) -> None:
    import anyio

    from faktory_core.clock import SystemClock
    from faktory_core.logs import setup_logging
    from faktory_core.plugins.memory_store import MemoryStore
    from faktory_core.testing import running_server

    setup_logging("error")

    async def main() -> None:
        async with running_server(MemoryStore(SystemClock()), password=password) as server:
            conn.send(server.port)
            await anyio.sleep_forever()

    anyio.run(main, backend_options={"use_uvloop": True})


def victim(port: int, password: str, stop: threading.Event, out: list[float]) -> None:
    conn = FwpSocket.open(port, password=password)
    n = 0
    while not stop.is_set():
        n += 1
        job = {"jid": f"victim-{n:010d}", "jobtype": "V", "args": [], "queue": "victim"}
        started = time.perf_counter()
        conn.json_command("PUSH", job)
        out.append(time.perf_counter() - started)
    conn.close()


def attack_pushb(port: int, password: str, jobs: int) -> None:
    batch = [{"jid": f"bulk-{n:012d}", "jobtype": "Bulk", "args": [n]} for n in range(jobs)]
    payload = json.dumps(batch, separators=(",", ":")).encode()
    print(f"  PUSHB payload: {len(payload) / 2**20:.1f} MiB")
    conn = FwpSocket.open(port, password=password)
    conn.call(b"PUSHB " + payload + b"\r\n")
    conn.close()


def attack_auth(port: int, tries: int, conns: int) -> None:
    def one(count: int) -> None:
        for _ in range(count):
            conn = FwpSocket.connect(port)
            hi = parse_hi(conn.read())
            reply = conn.call(encode_hello(hi, password="wrong"))
            assert isinstance(reply, ErrorReply)
            conn.close()

    threads = [threading.Thread(target=one, args=(tries // conns,)) for _ in range(conns)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def attack_fetch(port: int, password: str, seconds: float = 3.0) -> None:
    conn = FwpSocket.open(port, password=password, wid="bench-fetcher")
    names = [f"queue-{n}" for n in range(1000)]
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        conn.command("FETCH", *names)
    conn.close()


def measure(port: int, password: str, attack: Any) -> tuple[list[float], float]:
    """The victim's round trips while ``attack`` runs in a process of its own (so the
    attacker's own CPU, e.g. building a payload or hashing, does not slow the victim)."""
    stop = threading.Event()
    out: list[float] = []
    thread = threading.Thread(target=victim, args=(port, password, stop, out))
    thread.start()
    time.sleep(0.3)
    started = time.perf_counter()
    process = multiprocessing.get_context("fork").Process(target=attack)
    process.start()
    process.join()
    elapsed = time.perf_counter() - started
    stop.set()
    thread.join()
    return out, elapsed


def report(name: str, samples: list[float], elapsed: float) -> None:
    ms = sorted(s * 1000 for s in samples)
    p99 = ms[min(len(ms) - 1, int(len(ms) * 0.99))]
    print(
        f"{name:10s} attack {elapsed:6.2f} s  victim PUSH n={len(ms):6d}  "
        f"p50 {statistics.median(ms):6.2f} ms  p99 {p99:7.2f} ms  max {ms[-1]:7.2f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=200_000)
    parser.add_argument("--password-tries", type=int, default=100)
    parser.add_argument("--auth-conns", type=int, default=20)
    args = parser.parse_args()
    parent, child = multiprocessing.Pipe()
    process = multiprocessing.Process(target=serve, args=(child, PASSWORD), daemon=True)
    process.start()
    port = parent.recv()
    try:
        report("baseline", *measure(port, PASSWORD, lambda: time.sleep(2.0)))
        report("pushb", *measure(port, PASSWORD, lambda: attack_pushb(port, PASSWORD, args.jobs)))
        report(
            "auth",
            *measure(
                port, PASSWORD, lambda: attack_auth(port, args.password_tries, args.auth_conns)
            ),
        )
        report("fetch", *measure(port, PASSWORD, lambda: attack_fetch(port, PASSWORD)))
    finally:
        process.terminate()
        process.join()


if __name__ == "__main__":
    main()
