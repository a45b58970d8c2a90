"""Retries (``/retries``), Scheduled (``/scheduled``) and Dead (``/morgue``): 25 a page, a page
per job, and actions on one, several or every entry.

Faktory's form: ``POST action=retry|add_to_queue|delete|kill`` with ``key=<key>`` (repeatable)
or ``key=all``. Beyond Faktory, ``key=all`` sent with the "Find jobs" fields acts on every
match only. Bulk work goes through ``Manager.act_on``, a chunk at a time. ``kill`` with ``all``
kills (Faktory re-enqueues: decisions.md). An unknown action is a 400 ``Invalid action: <x>``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar
from urllib.parse import quote, unquote

from litestar import Controller, get, post
from litestar.datastructures import FormMultiDict
from litestar.params import FromPath
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_307_TEMPORARY_REDIRECT

from faktory_core.model import JobFilter, SortedSet
from faktory_core.plugins.webui.find import find_in_set
from faktory_core.plugins.webui.helpers import (
    AnyRequest,
    FindForm,
    Pager,
    UiServer,
    bad_request,
    int_param,
    link,
    page,
    page_param,
    redirect,
)
from faktory_core.server.app import Server
from faktory_core.web import job_progress

__all__ = ["MorgueController", "RetriesController", "ScheduledController", "entry_path"]

#: Form action → Manager.act_on action.
ACTIONS = {"retry": "requeue", "add_to_queue": "requeue", "delete": "delete", "kill": "kill"}


def entry_path(base: str, key: str) -> str:
    return f"{base}/{quote(key, safe='')}"


def entry_key(request: AnyRequest, base: str, key: str) -> str:
    """The entry key of a request to ``{base}/{key}``, read from the raw (still quoted) path
    when there is one: the router's decoded path loses a key's trailing slashes (a jid ending
    in ``//`` could not be opened) and merges ``%2F`` with ``/``."""
    raw = request.scope.get("raw_path")
    prefix = f"{base}/".encode()
    if isinstance(raw, bytes) and raw.startswith(prefix):
        return unquote(raw[len(prefix) :].split(b"?", 1)[0].decode("utf-8", "replace"))
    return key.lstrip("/")


class SetController(Controller):
    """One page per sorted set; subclasses say which set and how it looks."""

    which: ClassVar[SortedSet]
    title: ClassVar[str]
    #: Newest first (the dead set) instead of soonest first.
    reverse: ClassVar[bool] = False
    #: (action, button label) pairs offered on this page.
    buttons: ClassVar[Sequence[tuple[str, str]]]

    def _context(self, request: AnyRequest) -> dict[str, Any]:
        return {
            "title": self.title,
            "kind": self.which.value,
            "base": self.path,
            "buttons": self.buttons,
            "entry_link": lambda key: link(request, entry_path(self.path, key)),
        }

    @get("/")
    async def index(self, request: AnyRequest, server: UiServer) -> Template:
        find = FindForm.read(request.query_params)
        context = self._context(request) | {"find": find}
        if find.active:
            cursor = request.query_params.get("cursor", "")
            skip = int_param(request, "skip")
            matches = await find_in_set(server.store, self.which, find.job_filter(), cursor, skip)
            context["matches"] = matches
        else:
            pager = Pager(page_param(request), await server.store.set_size(self.which))
            context["pager"] = pager
            context["entries"] = await server.store.set_page(
                self.which, pager.offset, pager.size, reverse=self.reverse
            )
        return page("set.html", **context)

    @post("/")
    async def act(self, request: AnyRequest, server: UiServer) -> Redirect:
        form = await request.form()
        keys = [str(key) for key in form.getall("key", []) if key]
        find = FindForm.read(form)
        await self._apply(server, _action(form), keys, find.job_filter())
        return redirect(request, self.path, **find.query())

    @get("/{key:path}")
    async def entry(self, request: AnyRequest, server: UiServer, key: FromPath[str]) -> Any:
        found = await server.store.set_get(self.which, entry_key(request, self.path, key))
        if found is None:
            return Redirect(link(request, self.path), status_code=HTTP_307_TEMPORARY_REDIRECT)
        progress = (await job_progress(server, [found.job.jid])).get(found.job.jid)
        context = self._context(request) | {"entry": found, "job": found.job, "progress": progress}
        return page("job.html", **context)

    @post("/{key:path}")
    async def act_on_entry(self, request: AnyRequest, server: UiServer, key: FromPath[str]) -> Any:
        form = await request.form()
        keys = [entry_key(request, self.path, key)]
        await self._apply(server, _action(form), keys, JobFilter())
        return redirect(request, self.path)

    async def _apply(self, server: Server, action: str, keys: list[str], where: JobFilter) -> int:
        if "all" not in keys:
            return await server.manager.act_on(self.which, action, keys)
        if action == "delete" and where.matches_all:
            return await server.store.set_clear(self.which)
        matching = await server.manager.matching_keys(self.which, where)
        return await server.manager.act_on(self.which, action, matching)


def _action(form: FormMultiDict) -> str:
    action = str(form.get("action") or "")
    if action not in ACTIONS:
        raise bad_request(f"Invalid action: {action}")
    return ACTIONS[action]


class RetriesController(SetController):
    path = "/retries"
    which = SortedSet.RETRIES
    title = "Retries"
    buttons = (("retry", "Retry now"), ("delete", "Delete"), ("kill", "Kill"))


class ScheduledController(SetController):
    path = "/scheduled"
    which = SortedSet.SCHEDULED
    title = "Scheduled"
    buttons = (("add_to_queue", "Add to queue"), ("delete", "Delete"))


class MorgueController(SetController):
    path = "/morgue"
    which = SortedSet.DEAD
    title = "Dead"
    reverse = True
    buttons = (("retry", "Retry now"), ("delete", "Delete"))
