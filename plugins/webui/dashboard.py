"""The dashboard (``/``): counters, a realtime graph fed by ``/stats``, the daily history graph
for ``?days=7|30|90|180`` (drawn here as SVG) and the server's vitals."""

from __future__ import annotations

from collections.abc import Sequence

import attrs
from litestar import Controller, get
from litestar.response import Template

from faktory_core.plugins.webui.helpers import AnyRequest, UiServer, bad_request, int_param, page
from faktory_core.store import HISTORY_DAYS, DayCount

__all__ = ["DAY_CHOICES", "DashboardController", "HistoryChart", "days_param"]

DAY_CHOICES = (7, 30, 90, 180)
DEFAULT_DAYS = 30
CHART_WIDTH = 720
CHART_HEIGHT = 180


def days_param(request: AnyRequest) -> int:
    """``?days=N``: a positive integer, capped at 180 as in Faktory; anything else is a 400."""
    days = int_param(request, "days", DEFAULT_DAYS)
    if days < 1:
        raise bad_request()
    return min(days, HISTORY_DAYS)


@attrs.frozen
class HistoryChart:
    """Daily processed and failed counts as SVG polyline points, oldest day on the left."""

    days: Sequence[DayCount]
    width: int = CHART_WIDTH
    height: int = CHART_HEIGHT

    @property
    def peak(self) -> int:
        return max((day.processed for day in self.days), default=0)

    def points(self, field: str) -> str:
        step = self.width / max(len(self.days) - 1, 1)
        scale = (self.height - 10) / max(self.peak, 1)
        return " ".join(
            f"{i * step:.1f},{self.height - getattr(day, field) * scale:.1f}"
            for i, day in enumerate(self.days)
        )

    @property
    def totals(self) -> tuple[int, int]:
        return sum(d.processed for d in self.days), sum(d.failures for d in self.days)


class DashboardController(Controller):
    path = "/"

    @get("/")
    async def index(self, request: AnyRequest, server: UiServer) -> Template:
        days = days_param(request)
        history = await server.store.history(days, server.clock.now())
        return page(
            "dashboard.html",
            info=await server.info(),
            chart=HistoryChart(history),
            days=days,
            day_choices=DAY_CHOICES,
        )
