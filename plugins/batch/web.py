"""The Batches tab (docs/batches.md, "Web UI"): read-only pages through the web UI's hooks.

- ``GET /batches``: the newest batches (description, total, pending, failed, state).
- ``GET /batches/{bid}``: one batch: its counts, callbacks and their states, parent, children,
  and (the first :data:`MEMBER_LIMIT` of) its pending and failed members, a failed one linked to
  the Retries and Dead pages' search by jid.

The handlers look the server's :class:`BatchService` up per request; templates extend the web
UI's layout, which escapes every value.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from litestar import get
from litestar.exceptions import HTTPException, NotFoundException
from litestar.params import FromPath
from litestar.response import Template
from litestar.status_codes import HTTP_503_SERVICE_UNAVAILABLE

from faktory_core.plugins.batch.service import BatchService
from faktory_core.server.app import Server
from faktory_core.web import page

__all__ = ["LIST_LIMIT", "MEMBER_LIMIT", "PAGE_PATH", "TAB", "routes", "state_of", "templates"]

PAGE_PATH = "/batches"
TAB = ("Batches", PAGE_PATH)
#: Batches the list shows, newest first.
LIST_LIMIT = 100
#: Pending and failed members a batch page lists, each.
MEMBER_LIMIT = 100
LIST_TEMPLATE = "batches.html"
BATCH_TEMPLATE = "batch.html"

_STATES = {"": "not enqueued", "1": "enqueued", "2": "done"}

LIST_PAGE = """\
{% extends "layout.html" %}
{% block title %}Batches{% endblock %}
{% block content %}
<h1>Batches</h1>
<section class="card">
  <div class="table-wrap">
  <table>
    <thead><tr>
      <th>Batch</th><th>Description</th><th>Created</th><th>Total</th><th>Pending</th>
      <th>Failed</th><th>State</th>
    </tr></thead>
    <tbody>
    {%- for row in batches %}
      <tr class="batch" data-bid="{{ row.bid }}">
        <td><a href="{{ url('/batches/' ~ row.bid) }}"><code>{{ row.bid }}</code></a></td>
        <td>{{ row.description }}</td>
        <td>{{ row.created_at }}</td>
        <td>{{ row.total }}</td><td>{{ row.pending }}</td><td>{{ row.failed }}</td>
        <td>{{ row.state }}</td>
      </tr>
    {%- else %}
      <tr><td colspan="7" class="empty">No batches.</td></tr>
    {%- endfor %}
    </tbody>
  </table>
  </div>
</section>
{% endblock %}
"""

BATCH_PAGE = """\
{% extends "layout.html" %}
{% block title %}Batch {{ batch.bid }}{% endblock %}
{% block content %}
<h1>Batch <code>{{ batch.bid }}</code></h1>
<section class="card">
  <table class="batch-detail">
    <tr><th>Description</th><td>{{ batch.description }}</td></tr>
    <tr><th>Created</th><td>{{ batch.created_at }}</td></tr>
    <tr><th>State</th><td class="batch-state">{{ batch.state }}</td></tr>
    <tr><th>Total</th><td class="batch-total">{{ batch.total }}</td></tr>
    <tr><th>Pending</th><td class="batch-pending">{{ batch.pending }}</td></tr>
    <tr><th>Failed</th><td class="batch-failed">{{ batch.failed }}</td></tr>
    <tr><th>Parent</th><td>{% if batch.parent_bid %}<a class="batch-parent"
      href="{{ url('/batches/' ~ batch.parent_bid) }}"><code>{{ batch.parent_bid }}</code></a>
      {%- else %}<span class="muted">none</span>{% endif %}</td></tr>
  </table>
</section>
<h2>Callbacks</h2>
<section class="card">
  <table>
    <thead><tr><th>When</th><th>Type</th><th>Queue</th><th>Job id</th><th>State</th></tr></thead>
    <tbody>
    {%- for cb in callbacks %}
      <tr class="callback" data-kind="{{ cb.kind }}"><td>{{ cb.kind }}</td><td>{{ cb.jobtype }}</td>
        <td>{{ cb.queue }}</td><td><code>{{ cb.jid }}</code></td><td>{{ cb.state }}</td></tr>
    {%- endfor %}
    </tbody>
  </table>
</section>
<h2>Members not done</h2>
<section class="card">
  <table class="batch-members">
    <thead><tr><th>Job id</th><th>State</th><th>Find it</th></tr></thead>
    <tbody>
    {%- for jid in pending %}
      <tr class="member" data-state="pending"><td><code>{{ jid }}</code></td><td>pending</td>
        <td><a href="{{ url('/scheduled') }}?jid={{ jid | urlencode }}">scheduled</a></td></tr>
    {%- endfor %}
    {%- for jid in failed %}
      <tr class="member" data-state="failed"><td><code>{{ jid }}</code></td><td>failed</td>
        <td><a href="{{ url('/retries') }}?jid={{ jid | urlencode }}">retries</a> ·
        <a href="{{ url('/morgue') }}?jid={{ jid | urlencode }}">dead</a></td></tr>
    {%- endfor %}
    {%- if not pending and not failed %}
      <tr><td colspan="3" class="empty">None: every member has succeeded.</td></tr>
    {%- endif %}
    </tbody>
  </table>
  {%- if batch.pending > pending | length or batch.failed > failed | length %}
  <p class="muted members-more">Showing {{ pending | length }} of {{ batch.pending }} pending and
    {{ failed | length }} of {{ batch.failed }} failed members.</p>
  {%- endif %}
</section>
<h2>Child batches</h2>
<section class="card">
  <ul>
  {%- for child in batch.children %}
    <li class="batch-child"><a href="{{ url('/batches/' ~ child) }}">
      <code>{{ child }}</code></a></li>
  {%- else %}
    <li class="empty">None.</li>
  {%- endfor %}
  </ul>
</section>
{% endblock %}
"""


def templates() -> dict[str, str]:
    return {LIST_TEMPLATE: LIST_PAGE, BATCH_TEMPLATE: BATCH_PAGE}


def state_of(status: dict[str, Any]) -> str:
    """One word for the list: open, running, complete, succeeded."""
    if status["success_st"] == "2" or (status["success_st"] == "1" and not status["pending"]):
        return "succeeded" if status["success_st"] == "2" else "success enqueued"
    if status["complete_st"]:
        return "complete"
    return "running" if status.get("committed") else "open"


def _callbacks(status: dict[str, Any]) -> list[dict[str, Any]]:
    found = []
    for kind, job in status["callbacks"].items():
        state = _STATES.get(status[f"{kind}_st"], "")
        found.append({"kind": kind, "state": state, **job})
    return found


def routes(service: Callable[[Server], BatchService | None], server: Server) -> list[Any]:
    def batches() -> BatchService:
        found = service(server)
        if found is None or found.storage is None:
            raise HTTPException(status_code=HTTP_503_SERVICE_UNAVAILABLE, detail="no batches")
        return found

    @get(PAGE_PATH, name="batches_page", cache=False)
    async def list_page() -> Template:
        running = batches()
        found = await running.batches.recent(server.clock.now(), LIST_LIMIT)
        return page(LIST_TEMPLATE, batches=[{**row, "state": state_of(row)} for row in found])

    @get(PAGE_PATH + "/{bid:str}", name="batch_page", cache=False)
    async def batch_page(bid: FromPath[str]) -> Template:
        running = batches()
        found = await running.batches.status(bid, server.clock.now())
        if found is None:
            raise NotFoundException(detail=f"No such batch {bid}")
        batch = {**found, "state": state_of(found)}
        members = await running.batches.members(bid, server.clock.now(), MEMBER_LIMIT)
        pending, failed = members or ([], [])
        return page(
            BATCH_TEMPLATE,
            batch=batch,
            callbacks=_callbacks(found),
            pending=pending,
            failed=failed,
        )

    return [list_page, batch_page]
