"""What the Redis store's hot scripts cost inside Redis: ``INFO commandstats`` per script.

    .venv/bin/python benchmarks/redis_scripts.py -n 20000

Starts a bare local Valkey/Redis (no AOF) on a unix socket in a temporary directory, queues
``-n`` jobs, then runs ``-n`` calls of each script (PUSH, FETCH, ACK, and ``return 1`` for the
bare cost of an ``EVALSHA``) in one pipeline, and prints µs per call with the commands the
script made. The Redis process is started and stopped here, by pid.

    .venv/bin/python benchmarks/redis_scripts.py -n 2000 --callgrind

runs the Redis under ``valgrind --tool=callgrind`` instead, with the AOF on as the store starts
it (``appendfsync everysec``), sends each call on its own round trip (as the server does) and
prints Redis's instructions per call (``callgrind_control -z`` before a script's calls, ``-d``
after): repeatable to well under 1 %, whatever else the machine does. Needs valgrind.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import redis

from faktory_core.model import Job
from faktory_core.plugins.redis_store import find_server_binary
from faktory_core.plugins.redis_store import scripts as lua
from faktory_core.timefmt import format_ts

Call = tuple[Sequence[str], Sequence[str | bytes | int]]


class Callgrind:
    """The Redis's instructions over a stretch of calls (the server runs under callgrind)."""

    def __init__(self, pid: int, folder: str) -> None:
        self.pid = pid
        self.folder = Path(folder)

    def control(self, flag: str) -> None:
        subprocess.run(["callgrind_control", flag, str(self.pid)], check=True, capture_output=True)

    def last_total(self) -> int:
        dumps = sorted(self.folder.glob(f"cg.out.{self.pid}.*"), key=lambda p: int(p.suffix[1:]))
        for line in dumps[-1].read_text().splitlines():
            if line.startswith(("summary:", "totals:")):
                return int(line.split()[1])
        raise RuntimeError(f"no totals in {dumps[-1]}")


def _run(
    client: redis.Redis, name: str, source: str, calls: list[Call], cg: Callgrind | None = None
) -> None:
    sha = client.script_load(source)
    if cg is not None:
        cg.control("-z")
        for keys, args in calls:
            client.evalsha(sha, len(keys), *keys, *args)
        cg.control("-d")
        print(f"{name:<9} {cg.last_total() / len(calls):9,.0f} Ir/call")
        return
    client.config_resetstat()
    pipe = client.pipeline(transaction=False)
    for keys, args in calls:
        pipe.evalsha(sha, len(keys), *keys, *args)
    pipe.execute()
    stats = client.info("commandstats")
    script = stats.pop("cmdstat_evalsha")
    stats.pop("cmdstat_config|resetstat", None)
    inner = sum(value["usec"] for value in stats.values()) / len(calls)
    commands = ", ".join(f"{k[8:]} {v['usec_per_call']}" for k, v in stats.items())
    per_call = script["usec_per_call"]
    print(f"{name:<9} {per_call:6.2f} us/call; its commands {inner:.2f} ({commands})")


def measure(client: redis.Redis, count: int, cg: Callgrind | None) -> None:
    now = time.time()
    stamp = format_ts(now)
    jobs = [
        Job(jid=f"job-{n:08d}", jobtype="T", args=[n], queue="ops").stamped(stamp, stamp)
        for n in range(count)
    ]
    _run(client, "return 1", "return 1", [((), ())] * count, cg)
    pushes: list[Call] = [(("queues", "q:ops"), ("ops", job.encode(), "chan")) for job in jobs]
    _run(client, "PUSH", lua.PUSH, pushes, cg)
    keys = ("paused", "working", "fc:reservations", "fc:corrupt", "q:ops", "worker:")
    expiry = now + 1800
    args = (repr(now), stamp, '""', repr(expiry), format_ts(expiry), "1", "ops")
    _run(client, "FETCH", lua.FETCH, [(keys, args)] * count, cg)
    acks: list[Call] = [
        (("fc:reservations", "working", "processed", "processed:day"), (job.jid, 86400))
        for job in jobs
    ]
    _run(client, "ACK", lua.ACK, acks, cg)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=20000, help="calls per script (20000)")
    parser.add_argument("--callgrind", action="store_true", help="instructions per call")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="fc-scripts-") as tmp:
        sock = Path(tmp) / "redis.sock"
        command = [find_server_binary(), "--port", "0", "--unixsocket", str(sock)]
        command += ["--save", "", "--dir", tmp]
        if args.callgrind:
            out = f"--callgrind-out-file={tmp}/cg.out.%p"
            command = ["valgrind", "--tool=callgrind", out, *command]
            command += ["--appendonly", "yes", "--appendfsync", "everysec"]
        else:
            command += ["--appendonly", "no"]
        server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            client = redis.Redis(unix_socket_path=str(sock))
            for _ in range(1200):
                if sock.exists():
                    break
                time.sleep(0.05)
            cg = Callgrind(server.pid, tmp) if args.callgrind else None
            measure(client, args.n, cg)
        finally:
            server.terminate()
            server.wait(60)
    return 0


if __name__ == "__main__":
    sys.exit(main())
