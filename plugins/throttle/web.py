"""The Throttles tab: each throttle's queue, size, limit and slots in use (enterprise.md §10).

- ``GET /throttles``: the page (extends the web UI's ``layout.html``);
- ``GET /throttles.json``: the same rows as JSON.

Per-worker throttles count each worker apart, so their Taken and Free cells stay blank, as in
Enterprise's tab.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from litestar import get
from litestar.response import Template

from faktory_core.web import BARE as BARE_KEY
from faktory_core.web import page

if TYPE_CHECKING:
    from faktory_core.plugins.throttle.gate import ThrottleGate
    from faktory_core.server.app import Server

__all__ = ["PAGE_PATH", "TEMPLATE", "routes", "rows"]

PAGE_PATH = "/throttles"
JSON_PATH = "/throttles.json"
TEMPLATE = "throttles.html"
BARE = {BARE_KEY: True}

PAGE = """\
{% extends "layout.html" %}
{% block title %}Throttles{% endblock %}
{% block content %}
<h1>Throttles</h1>
<section class="card">
  <div class="table-wrap">
  <table>
    <thead><tr>
      <th>Queue</th><th>Current queue size</th><th>Type</th><th>Taken</th><th>Free</th>
      <th>Timeout</th>
    </tr></thead>
    <tbody>
    {%- for row in rows %}
      <tr class="throttle" data-queue="{{ row.queue }}">
        <td><a href="{{ url('/queues/' ~ row.queue) }}">{{ row.queue }}</a></td>
        <td>{{ row.size }}</td>
        <td>{{ row.type }}</td>
        <td>{{ row.taken if row.taken is not none else "" }}</td>
        <td>{{ row.free if row.free is not none else "" }}</td>
        <td>{{ row.timeout }} s</td>
      </tr>
    {%- else %}
      <tr><td colspan="6" class="muted">No throttles: add a [throttles] table in conf.d.</td></tr>
    {%- endfor %}
    </tbody>
  </table>
  </div>
</section>
{% endblock %}
"""


async def rows(server: Server, gate: ThrottleGate) -> list[dict[str, Any]]:
    found = []
    now = server.clock.now()
    for name, throttle in sorted(gate.throttles.items()):
        row: dict[str, Any] = {
            "queue": name,
            "size": await server.store.queue_size(name),
            "type": throttle.kind,
            "limit": throttle.limit,
            "timeout": throttle.timeout,
            "taken": None,
            "free": None,
        }
        if not throttle.per_worker and gate.storage is not None:
            [taken] = await gate.storage.taken([name], now)
            row.update(taken=taken, free=max(throttle.limit - taken, 0))
        found.append(row)
    return found


def routes(server: Server, gate: ThrottleGate) -> list[Any]:
    @get(PAGE_PATH, name="throttles_page", cache=False)
    async def throttles_page() -> Template:
        return page(TEMPLATE, rows=await rows(server, gate))

    @get(JSON_PATH, name="throttles_json", cache=False, opt=BARE)
    async def throttles_json() -> dict[str, Any]:
        return {"throttles": await rows(server, gate)}

    return [throttles_page, throttles_json]
