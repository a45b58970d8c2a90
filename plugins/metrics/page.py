"""The Metrics tab's page (extends the web UI's ``layout.html``) and its inline SVG charts.

The charts are drawn on the server as SVG bars (one per minute), so the page needs no script
and no CDN; ``/metrics/jobs.json`` serves the same numbers for anything else.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["CHART_HEIGHT", "CHART_WIDTH", "TEMPLATE", "TEMPLATES", "bars"]

CHART_WIDTH = 720
CHART_HEIGHT = 120
TEMPLATE = "metrics.html"

METRICS_PAGE = """\
{% extends "layout.html" %}
{% block title %}Metrics{% endblock %}
{% block content %}
<h1>Metrics{% if jobtype %}: {{ jobtype }}{% endif %}</h1>
<nav class="choices" aria-label="Period">
  {%- for name in periods %}
  <a href="{{ url(path, {'period': name, 'jobtype': jobtype, 'sort': sort}) }}"
     class="period{% if name == period %} active{% endif %}"
     {%- if name == period %} aria-current="true"{% endif %}>{{ name }}</a>
  {%- endfor %}
  {%- if jobtype %} <a href="{{ url(path, {'period': period}) }}">all job types</a>{% endif %}
</nav>
{%- for chart in charts %}
<section class="card">
  <h2>{{ chart.title }}</h2>
  <svg class="chart metrics-chart" id="{{ chart.id }}" viewBox="0 0 {{ width }} {{ height }}"
       preserveAspectRatio="none" role="img" aria-label="{{ chart.title }}">
    {%- for bar in chart.bars %}
    <rect x="{{ bar.x }}" y="{{ bar.y }}" width="{{ bar.w }}" height="{{ bar.h }}"
          fill="{{ chart.color }}"><title>{{ bar.label }}</title></rect>
    {%- endfor %}
  </svg>
  <p class="muted">peak {{ chart.peak }} {{ chart.unit }} a minute</p>
</section>
{%- endfor %}
{%- if jobtype %}
<section class="card">
  <h2>Execution times</h2>
  <div class="table-wrap"><table>
    <thead><tr><th>Time</th><th>Executions</th></tr></thead>
    <tbody>
    {%- for row in histogram %}
      <tr class="bucket"><td>{{ row.bucket }}</td><td>{{ "{:,}".format(row.count) }}</td></tr>
    {%- endfor %}
    </tbody>
  </table></div>
</section>
{%- else %}
<section class="card">
  <div class="table-wrap"><table>
    <thead><tr>
      {%- for key, label in columns %}
      {%- set order = 'ascending' if key == 'jobtype' else 'descending' %}
      <th{% if key == sort %} aria-sort="{{ order }}"{% endif %}>
        <a href="{{ url(path, {'period': period, 'sort': key}) }}">{{ label }}</a></th>
      {%- endfor %}
    </tr></thead>
    <tbody>
    {%- for row in rows %}
      <tr class="jobtype" data-jobtype="{{ row.jobtype }}">
        <td><a href="{{ url(path, {'period': period, 'jobtype': row.jobtype}) }}">
          {{- row.jobtype }}</a></td>
        <td>{{ "{:,}".format(row.processed) }}</td>
        <td>{{ "{:,}".format(row.failed) }}</td>
        <td>{{ "{:,.3f}".format(row.seconds) }} s</td>
        <td>{{ "{:,.3f}".format(row.mean) }} s</td>
      </tr>
    {%- else %}
      <tr><td colspan="5" class="empty">No job finished in this period.</td></tr>
    {%- endfor %}
    </tbody>
  </table></div>
  <p class="muted">Kept in this server's memory, per minute, for 24 hours.</p>
</section>
{%- endif %}
{% endblock %}
"""

TEMPLATES = {TEMPLATE: METRICS_PAGE}


def bars(values: Sequence[float], labels: Sequence[str]) -> list[dict[str, Any]]:
    """One SVG bar per value, scaled to the chart; zero values draw nothing."""
    peak = max(values, default=0) or 1
    width = CHART_WIDTH / max(len(values), 1)
    found = []
    for index, (value, label) in enumerate(zip(values, labels, strict=True)):
        if value <= 0:
            continue
        height = round(CHART_HEIGHT * value / peak, 2)
        found.append(
            {
                "x": round(index * width, 2),
                "y": round(CHART_HEIGHT - height, 2),
                "w": round(max(width - 0.5, 0.5), 2),
                "h": height,
                "label": label,
            }
        )
    return found
