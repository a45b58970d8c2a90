"""Queues (``/queues``) and one queue's jobs (``/queues/<name>``), newest first, 25 a page.

Faktory's forms are kept: ``POST /queues/<name>`` with ``action=delete|pause|resume`` acts on the
queue (then back to ``/queues``); with ``bkey=…`` (repeatable; the jid, or Faktory's base64url of
the job's JSON) it deletes those jobs. Beyond Faktory, ``bkey=all`` deletes every job that
matches the page's "Find jobs" fields (the whole queue's jobs when none is given).
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, get, post
from litestar.params import FromPath
from litestar.response import Redirect, Template

from faktory_core.manager import MUTATE_CHUNK
from faktory_core.plugins.webui.find import find_in_queue, queue_matches
from faktory_core.plugins.webui.helpers import (
    AnyRequest,
    FindForm,
    Pager,
    UiServer,
    bad_request,
    int_param,
    jid_from_bkey,
    page,
    page_param,
    redirect,
)
from faktory_core.server.app import Server

__all__ = ["QueuesController"]


class QueuesController(Controller):
    path = "/queues"

    @get("/")
    async def index(self, server: UiServer) -> Template:
        names = await server.store.queue_names()
        stats = await server.store.stats()
        latency = await server.manager.latency(names) if names else {}
        paused = await server.store.paused()
        rows = [(name, stats.queues.get(name, 0), latency[name], name in paused) for name in names]
        return page("queues.html", rows=rows)

    @get("/{name:str}")
    async def queue(self, request: AnyRequest, server: UiServer, name: FromPath[str]) -> Any:
        if name not in await server.store.queue_names():
            return redirect(request, "/queues")
        find = FindForm.read(request.query_params)
        context: dict[str, Any] = {"name": name, "find": find}
        if find.active:
            offset = int_param(request, "offset")
            context["matches"] = await find_in_queue(server.store, name, find.job_filter(), offset)
        else:
            pager = Pager(page_param(request), await server.store.queue_size(name))
            context["pager"] = pager
            context["jobs"] = await server.store.queue_page(name, pager.offset, pager.size)
        context["paused"] = name in await server.store.paused()
        return page("queue.html", **context)

    @post("/{name:str}")
    async def act(self, request: AnyRequest, server: UiServer, name: FromPath[str]) -> Redirect:
        form = await request.form()
        bkeys = [str(key) for key in form.getall("bkey", []) if key]
        if bkeys:
            find = FindForm.read(form)
            await _delete_jobs(server, name, bkeys, find)
            return redirect(request, f"/queues/{name}", **find.query())
        action = str(form.get("action") or "")
        actions = {
            "delete": server.manager.remove,
            "pause": server.manager.pause,
            "resume": server.manager.resume,
        }
        if action not in actions:
            raise bad_request(f"Invalid action: {action}")
        await actions[action]([name])
        return redirect(request, "/queues")


async def _delete_jobs(server: Server, name: str, bkeys: list[str], find: FindForm) -> None:
    if "all" in bkeys:
        jids = await queue_matches(server.store, name, find.job_filter())
    else:
        jids = [jid_from_bkey(bkey) for bkey in bkeys]
    for start in range(0, len(jids), MUTATE_CHUNK):
        await server.store.queue_delete(name, jids[start : start + MUTATE_CHUNK])
