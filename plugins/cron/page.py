"""The Cron tab's page: a Jinja template that extends the web UI's site layout.

The web UI renders it with its own environment, so ``{% extends "layout.html" %}``, the
``url()`` callable and the ``ts``/``ago``/``iso`` filters come from there (docs/webui.md).
"""

from __future__ import annotations

__all__ = ["CRON_PAGE"]

CRON_PAGE = """\
{% extends "layout.html" %}
{% block title %}Cron{% endblock %}
{% block content %}
<h1>Cron</h1>
<section class="card">
  <div class="table-wrap">
  <table>
    <thead><tr>
      <th>Name</th><th>Schedule</th><th>Type</th><th>Queue</th>
      <th>Next run</th><th>Last run</th><th>State</th><th></th>
    </tr></thead>
    <tbody>
    {%- for row in entries %}
      <tr class="cron" data-entry="{{ row.identity }}">
        <td title="{{ row.source }}">{{ row.name if row.name is not none else row.identity }}</td>
        <td><code>{{ row.schedule }}</code><br><span class="muted">{{ row.description }}
          {%- if row.timezone != "UTC" %} ({{ row.timezone }}){% endif %}</span></td>
        <td>{{ row.type }}</td>
        <td><a href="{{ url('/queues/' ~ row.queue) }}">{{ row.queue }}</a></td>
        <td><span title="{{ row.next_run_local }}">{{ row.next_run }}</span><br>
          <span class="muted">{{ row.next_run | ts | ago(now) }}</span></td>
        <td>
          {%- if row.last_run %}{{ row.last_run.at }}<br>
          <span class="muted">{{ row.last_run.at | ts | ago(now) }}
            {%- if row.last_run.manual %}, by hand{% endif %}</span>
          {%- else %}<span class="muted">never</span>{% endif %}</td>
        <td>{% if row.paused %}<span class="state state-quiet">paused</span>
          {%- else %}<span class="state state-running">active</span>{% endif %}</td>
        <td class="actions">
          <form method="post" action="{{ url('/cron/enqueue') }}" class="inline">
            <input type="hidden" name="entry" value="{{ row.identity }}">
            <button>Enqueue now</button>
          </form>
          {%- set toggle = "/cron/resume" if row.paused else "/cron/pause" %}
          <form method="post" action="{{ url(toggle) }}" class="inline">
            <input type="hidden" name="entry" value="{{ row.identity }}">
            <button>{{ "Resume" if row.paused else "Pause" }}</button>
          </form>
        </td>
      </tr>
    {%- else %}
      <tr><td colspan="8" class="empty">No periodic jobs: add [[cron]] entries to conf.d.</td></tr>
    {%- endfor %}
    </tbody>
  </table>
  </div>
</section>
{% endblock %}
"""
