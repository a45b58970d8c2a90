"""Web UI page cost with a large Retries set: page 1 against deep pages (docs/webui.md, Scale).

    .venv/bin/python benchmarks/webui_pages.py --size 100000 --store memory
    .venv/bin/python benchmarks/webui_pages.py --size 100000 --store redis

Runs the UI app in process (httpx over ASGI, no sockets) on a fresh store in a temporary
folder; the Redis store starts its own local server there. Prints the median of 7 requests.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import anyio
import attrs
import httpx

from faktory_core.clock import SystemClock
from faktory_core.config import Config
from faktory_core.kernel import load_kernel
from faktory_core.model import Failure, Job, SortedSet
from faktory_core.plugins import webui
from faktory_core.plugins.memory_store import MemoryStore
from faktory_core.plugins.redis_store import RedisSettings, RedisStore
from faktory_core.server.app import Server
from faktory_core.store import Store

PAGE_SIZE = 25


def make_store(kind: str, folder: Path) -> Store:
    if kind == "redis":
        return RedisStore(SystemClock(), RedisSettings(), storage=folder)
    return MemoryStore(SystemClock())


async def fill(store: Store, size: int) -> None:
    failure = Failure(retry_count=3, remaining=22, errtype="IOError", message="disk full")
    template = Job("bulk00000000", "Bulk", ["x" * 40], failure=failure)
    for n in range(size):
        await store.set_add(SortedSet.RETRIES, 2e9 + n, attrs.evolve(template, jid=f"b{n:011d}"))


async def median_ms(client: httpx.AsyncClient, path: str, runs: int = 7) -> float:
    await client.get(path)  # warm-up: templates compiled
    durations = []
    for _ in range(runs):
        started = time.perf_counter()
        response = await client.get(path)
        durations.append(time.perf_counter() - started)
        response.raise_for_status()
    return statistics.median(durations) * 1000


async def main(size: int, kind: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        store = make_store(kind, folder)
        config = Config(binding="127.0.0.1:0", web_binding=":0", storage_dir=folder)
        server = Server.create(config, load_kernel(plugins=[("webui", webui)]), SystemClock(),
                               store=store)  # fmt: skip
        await store.open()
        try:
            await fill(store, size)
            transport = httpx.ASGITransport(app=webui.create_app(server))
            # The UI refuses a Host it does not know: 127.0.0.1 is always allowed.
            base = "http://127.0.0.1"
            async with httpx.AsyncClient(transport=transport, base_url=base) as client:
                last = max(size // PAGE_SIZE, 1)
                for page in (1, 1000, last):
                    cost = await median_ms(client, f"/retries?page={page}")
                    print(f"{kind}: /retries page {page:,} of {size:,} entries: {cost:.1f} ms")
        finally:
            await store.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--store", choices=("memory", "redis"), default="memory")
    args = parser.parse_args()
    anyio.run(main, args.size, args.store, backend="asyncio")
