"""A faktory-core server in a process of its own, for the hostile tests (where "the process
dies" is the failure to catch).

    python tests/hostile/serve.py '{"store": "memory", "max_line": 1048576}'

The JSON names the store (``memory``, or ``redis`` with ``redis_url``), ``faults`` (see
:class:`FaultyStore`), ``nofile`` (soft and
hard RLIMIT_NOFILE to set before starting), ``timings`` (Timings fields) and any other
:class:`~faktory_core.config.Config` field. Prints ``port <n>`` (and ``web <n>`` when the web UI
is on) once listening; logs go to stderr; SIGTERM or SIGINT stops it.
"""

from __future__ import annotations

import json
import resource
import signal
import sys
from typing import Any

import anyio

from faktory_core.clock import SystemClock
from faktory_core.config import Timings
from faktory_core.errors import StoreError
from faktory_core.logs import setup_logging
from faktory_core.model import WorkerInfo
from faktory_core.plugins.memory_store import MemoryStore
from faktory_core.store import Store
from faktory_core.testing import running_server

OUTAGE = "the store is unreachable (the test's outage)"
#: Only workers whose wid starts with this meet the faults; everyone else is served normally.
FAULTY = "faulty-"


class FaultyStore(MemoryStore):
    """A memory store whose worker calls fail for wids starting with ``faulty-``:
    ``{"worker_connect": "outage"}`` raises a StoreError, ``"bug"`` a RuntimeError (a bug in
    a store plugin); the same for ``worker_disconnect``."""

    faults: dict[str, str] = {}

    def _fault(self, call: str, wid: str) -> None:
        kind = self.faults.get(call)
        if kind and wid.startswith(FAULTY):
            raise StoreError(OUTAGE) if kind == "outage" else RuntimeError(f"a bug in {call}")

    async def worker_connect(self, info: WorkerInfo) -> WorkerInfo:
        self._fault("worker_connect", info.wid)
        return await super().worker_connect(info)

    async def worker_disconnect(self, wid: str) -> None:
        self._fault("worker_disconnect", wid)
        await super().worker_disconnect(wid)


def make_store(options: dict[str, Any]) -> Store:
    clock = SystemClock()
    if options.pop("store", "memory") == "redis":
        from faktory_core.plugins.redis_store import RedisSettings, RedisStore

        return RedisStore(clock, RedisSettings(url=options.pop("redis_url")))
    FaultyStore.faults = options.pop("faults", {})
    return FaultyStore(clock)


async def main(options: dict[str, Any]) -> None:
    store = make_store(options)
    timings = Timings(**options.pop("timings", {}))
    plugins: list[tuple[str, object]] = []
    if options.get("web_binding", ":0") != ":0":
        from faktory_core.plugins import webui

        plugins.append(("webui", webui))
    async with running_server(store, timings=timings, plugins=plugins, **options) as server:
        print(f"port {server.port}", flush=True)
        if plugins:
            from faktory_core.plugins.webui import web_port

            print(f"web {web_port(server)}", flush=True)
        with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
            async for _ in signals:
                return


if __name__ == "__main__":
    settings: dict[str, Any] = json.loads(sys.argv[1])
    nofile = settings.pop("nofile", None)
    if nofile is not None:
        resource.setrlimit(resource.RLIMIT_NOFILE, tuple(nofile))
    setup_logging(settings.pop("log_level", "info"))
    anyio.run(main, settings, backend_options={"use_uvloop": True})
