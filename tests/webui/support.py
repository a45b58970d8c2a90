"""Shared by the web UI tests: a server on a store without sockets, with the UI app in front of
it, and helpers that put jobs where a page shows them (through the Manager, as FWP would).

The client is httpx's ``AsyncClient`` over ``ASGITransport``: it runs the app on the test's own
event loop, where the store lives. (Litestar's ``AsyncTestClient`` runs the app in a portal
thread with a loop of its own, which a Redis store's connections cannot be used from.)"""

from __future__ import annotations

import base64
import json
import os
import re
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import attrs
import httpx

from faktory_core.clock import Clock, FakeClock
from faktory_core.config import Config
from faktory_core.kernel import load_kernel
from faktory_core.manager import FailInfo
from faktory_core.model import Job, SortedSet, WorkerInfo, job_from_dict
from faktory_core.plugins import webui
from faktory_core.plugins.memory_store import MemoryStore
from faktory_core.server.app import Server
from faktory_core.store import Store
from faktory_core.testing import running_server
from faktory_core.timefmt import format_ts

#: Stores the UI is tested on; the Redis store starts a local valkey/redis-server of its own
#: in the test's folder. ``WEBUI_STORES=memory`` narrows a local run.
STORES = tuple(os.environ.get("WEBUI_STORES", "memory,redis").split(","))
BASE_URL = "http://localhost"


def make_store(kind: str, clock: Clock, folder: Path) -> Store:
    if kind == "memory":
        return MemoryStore(clock)
    if kind == "redis":
        from faktory_core.plugins.redis_store import RedisStore, resolve_settings

        return RedisStore(clock, resolve_settings({}, {}), storage=folder / "redis")
    raise ValueError(f"no fixture for the {kind!r} store")


def new_jid() -> str:
    return uuid.uuid4().hex[:16]


def job(jobtype: str = "SomeJob", args: Sequence[Any] = (), **extra: Any) -> Job:
    return job_from_dict({"jid": new_jid(), "jobtype": jobtype, "args": list(args), **extra})


def rows(html: str, kind: str = "job") -> list[str]:
    """The ``data-jid`` (or ``data-wid``/``data-queue``) values of the table rows, in order."""
    attr = {"job": "jid", "worker": "wid", "queue": "queue"}[kind]
    return re.findall(rf'<tr class="{kind}" data-{attr}="([^"]*)"', html)


def bkey(queued: Job) -> str:
    """Faktory's queue-page key: base64url of the job's JSON, unpadded."""
    return base64.urlsafe_b64encode(queued.encode()).decode().rstrip("=")


@attrs.define(eq=False)
class Ui:
    """A server (not listening), its fake clock, and a test client for its UI."""

    server: Server
    clock: FakeClock
    client: httpx.AsyncClient

    @property
    def store(self) -> Store:
        return self.server.store

    async def push(self, *jobs: Job) -> None:
        for item in jobs:
            await self.server.manager.push(item)

    async def fail(
        self,
        item: Job,
        *,
        errtype: str = "RuntimeError",
        message: str = "boom",
        backtrace: Sequence[str] = ("app.rb:1",),
        wid: str = "",
    ) -> None:
        """Push ``item`` to a queue of its own, fetch it and FAIL it (retries, or dead when
        its ``retry`` is negative)."""
        item = attrs.evolve(item, queue=item.queue if item.queue != "default" else "work")
        await self.push(item)
        fetched = await self.server.manager.fetch([item.queue], wid)
        assert fetched is not None
        assert fetched.jid == item.jid
        await self.server.manager.fail(FailInfo.cleansed(item.jid, errtype, message, backtrace))

    async def retry(
        self, jobtype: str = "SomeJob", *, args: Sequence[Any] = (), **failure: Any
    ) -> Job:
        """A job in Retries (pushed, fetched and failed once)."""
        item = job(jobtype, args=args)
        await self.fail(item, **failure)
        return item

    async def dead(
        self, jobtype: str = "DeadJob", *, args: Sequence[Any] = (), **failure: Any
    ) -> Job:
        """A job in the dead set (``retry: -1``, failed once)."""
        item = job(jobtype, args=args, retry=-1)
        await self.fail(item, **failure)
        return item

    async def scheduled(self, jobtype: str = "LaterJob", in_seconds: float = 3600) -> Job:
        item = job(jobtype, at=format_ts(self.clock.now() + in_seconds))
        await self.push(item)
        return item

    async def keys(self, which: SortedSet) -> list[str]:
        return [entry.key for entry in await self.store.set_page(which, 0, 10_000)]

    async def worker(self, wid: str = "w1", **fields: Any) -> WorkerInfo:
        info = WorkerInfo(wid=wid, hostname="box", pid=4242, **fields)
        await self.server.manager.connect_worker(info)
        return info

    async def page(self, path: str, **kwargs: Any) -> str:
        response = await self.client.get(path, **kwargs)
        assert response.status_code == 200, (path, response.status_code, response.text)
        return response.text

    async def post(self, path: str, data: Any, **kwargs: Any) -> Any:
        return await self.client.post(path, data=data, follow_redirects=False, **kwargs)

    async def stats(self) -> dict[str, Any]:
        response = await self.client.get("/stats")
        data: dict[str, Any] = json.loads(response.text)
        return data


@asynccontextmanager
async def ui_for(
    store_kind: str, tmp: Path, plugins: Sequence[tuple[str, object]] = (), **config: Any
) -> AsyncIterator[Ui]:
    clock = FakeClock()
    store = make_store(store_kind, clock, tmp)
    config.setdefault("web_binding", ":0")
    settings = Config(
        binding="127.0.0.1:0", storage_dir=tmp / "db", config_dir=tmp / "conf", **config
    )
    kernel = load_kernel(plugins=[("webui", webui), *plugins])
    server = Server.create(settings, kernel, clock, store=store)
    await store.open()
    try:
        transport = httpx.ASGITransport(app=webui.create_app(server))
        async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as client:
            yield Ui(server, clock, client)
    finally:
        with anyio.CancelScope(shield=True):
            await store.close()


def serving(
    store: Store, clock: Clock, tmp: Path, plugins: Sequence[tuple[str, object]] = (), **config: Any
) -> AbstractAsyncContextManager[Server]:
    """:func:`faktory_core.testing.running_server` with the web UI plugin, listening on
    127.0.0.1:0 unless ``web_binding`` is given, and its folders in ``tmp``."""
    config.setdefault("web_binding", "127.0.0.1:0")
    config.setdefault("config_dir", tmp / "conf")
    return running_server(
        store, clock=clock, plugins=[("webui", webui), *plugins], storage_dir=tmp / "db", **config
    )
