"""Busy (``/busy``): worker processes and the jobs in progress; Quiet and Stop, one or all.

``POST wid=<wid>|all&signal=quiet|terminate`` moves the workers' state forward; each worker
learns it from the reply to its next BEAT. An unknown signal is a 400 ``Invalid signal: <x>``
(Faktory answers 500 with the same text: the request, not the server, is at fault).
"""

from __future__ import annotations

from collections import Counter

from litestar import Controller, get, post
from litestar.response import Redirect, Template

from faktory_core.model import WorkerState
from faktory_core.plugins.webui.helpers import AnyRequest, UiServer, bad_request, page, redirect
from faktory_core.web import job_progress

__all__ = ["BusyController"]

SIGNALS = {"quiet": WorkerState.QUIET, "terminate": WorkerState.TERMINATE}


class BusyController(Controller):
    path = "/busy"

    @get("/")
    async def index(self, server: UiServer) -> Template:
        workers = sorted(await server.store.workers(), key=lambda w: (w.hostname, w.pid, w.wid))
        jobs = sorted(await server.store.reservations(), key=lambda r: r.reserved_at)
        busy = Counter(reservation.wid for reservation in jobs)
        progress = await job_progress(server, [reservation.job.jid for reservation in jobs])
        return page("busy.html", workers=workers, jobs=jobs, busy=busy, progress=progress)

    @post("/")
    async def signal(self, request: AnyRequest, server: UiServer) -> Redirect:
        form = await request.form()
        name = str(form.get("signal") or "")
        state = SIGNALS.get(name)
        if state is None:
            raise bad_request(f"Invalid signal: {name}")
        wids = [str(wid) for wid in form.getall("wid", []) if wid]
        if wids:
            await server.store.worker_signal(None if "all" in wids else wids, state)
        return redirect(request, "/busy")
