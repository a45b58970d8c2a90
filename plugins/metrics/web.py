"""The metrics plugin's web routes, handed to the web UI through its hooks.

- ``GET /metrics``: the Prometheus text format, behind the UI's password unless
  ``[metrics] open = true`` (read at start);
- ``GET /metrics/jobs``: the Metrics tab (``?period=1h|8h|24h``, ``sort=``, ``jobtype=``);
- ``GET /metrics/jobs.json``: the same numbers as JSON.

The handlers look the server's metrics up per request, so they work whichever plugin's start-up
hook ran first.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from litestar import Response, get
from litestar.exceptions import HTTPException
from litestar.response import Template
from litestar.status_codes import HTTP_503_SERVICE_UNAVAILABLE

from faktory_core.plugins.metrics.page import CHART_HEIGHT, CHART_WIDTH, TEMPLATE, bars
from faktory_core.plugins.metrics.recorder import Recorder
from faktory_core.plugins.metrics.settings import metrics_settings
from faktory_core.plugins.metrics.shared import Minutes
from faktory_core.plugins.metrics.summary import PERIODS, SORTS, histogram, series, summary
from faktory_core.web import BARE, PUBLIC, AnyRequest, page

if TYPE_CHECKING:
    from faktory_core.plugins.metrics import MetricsPlugin, MetricsState
    from faktory_core.server.app import Server

__all__ = ["JSON_PATH", "PAGE_PATH", "SCRAPE_PATH", "TAB", "routes"]

SCRAPE_PATH = "/metrics"
PAGE_PATH = "/metrics/jobs"
JSON_PATH = "/metrics/jobs.json"
TAB = ("Metrics", PAGE_PATH)
COLUMNS = (
    ("jobtype", "Job type"),
    ("processed", "Processed"),
    ("failed", "Failed"),
    ("seconds", "Total time"),
    ("mean", "Mean time"),
)


def _query(request: AnyRequest) -> tuple[str, str, str]:
    """(period, sort, jobtype) from the query, unknown values replaced by the defaults."""
    params = request.query_params
    period, sort = params.get("period") or "", params.get("sort") or ""
    return (
        period if period in PERIODS else "1h",
        sort if sort in SORTS else "seconds",
        params.get("jobtype") or "",
    )


def _minute_label(at: int) -> str:
    return time.strftime("%H:%M UTC", time.gmtime(at))


def _charts(points: list[dict[str, Any]]) -> list[dict[str, Any]]:
    runs = [p["processed"] for p in points]
    seconds = [p["seconds"] for p in points]
    run_labels = [f"{_minute_label(p['at'])}: {p['processed']:,} executions" for p in points]
    time_labels = [f"{_minute_label(p['at'])}: {p['seconds']:,.3f} s" for p in points]
    return [
        {
            "id": "executions-chart",
            "title": "Executions per minute",
            "color": "#3b6fd8",
            "unit": "executions",
            "peak": f"{max(runs, default=0):,}",
            "bars": bars(runs, run_labels),
        },
        {
            "id": "seconds-chart",
            "title": "Execution time per minute",
            "color": "#d8893b",
            "unit": "seconds",
            "peak": f"{max(seconds, default=0):,.3f}",
            "bars": bars(seconds, time_labels),
        },
    ]


def routes(plugin: MetricsPlugin, server: Server) -> list[Any]:
    settings = metrics_settings(server.config.toml)

    def state() -> MetricsState:
        found = plugin.state(server)
        if found is None:
            raise HTTPException("metrics are not running yet", HTTP_503_SERVICE_UNAVAILABLE)
        return found

    async def recorder(minutes: int) -> Minutes | Recorder:
        return await state().minutes(minutes)

    @get(SCRAPE_PATH, opt={BARE: True, PUBLIC: settings.open})
    async def metrics() -> Response[bytes]:
        body, content_type = await state().scrape()
        return Response(body, headers={"content-type": content_type})

    @get(PAGE_PATH)
    async def metrics_page(request: AnyRequest) -> Template:
        chosen, sort, jobtype = _query(request)
        minutes = PERIODS[chosen]
        found = await recorder(minutes)
        points = series(found, minutes, jobtype)
        return page(
            TEMPLATE,
            path=PAGE_PATH,
            period=chosen,
            periods=list(PERIODS),
            sort=sort,
            columns=COLUMNS,
            rows=summary(found, minutes, sort),
            jobtype=jobtype,
            histogram=histogram(found, minutes, jobtype) if jobtype else [],
            charts=_charts(points),
            width=CHART_WIDTH,
            height=CHART_HEIGHT,
        )

    @get(JSON_PATH, opt={BARE: True})
    async def metrics_json(request: AnyRequest) -> dict[str, Any]:
        chosen, sort, jobtype = _query(request)
        minutes = PERIODS[chosen]
        found = await recorder(minutes)
        return {
            "period": chosen,
            "jobtypes": summary(found, minutes, sort),
            "series": series(found, minutes, jobtype),
            **({"histogram": histogram(found, minutes, jobtype)} if jobtype else {}),
        }

    return [metrics, metrics_page, metrics_json]
