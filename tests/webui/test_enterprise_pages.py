"""Progress of tracked jobs on the Busy page and a job's page; the Throttles tab (both stores)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from faktory_core.manager import FailInfo
from faktory_core.model import SortedSet
from faktory_core.plugins import memory_store, redis_store, throttle, tracking

from .support import Ui, job

PLUGINS = [
    ("memory_store", memory_store),
    ("redis_store", redis_store),
    ("tracking", tracking),
    ("throttle", throttle),
]
THROTTLES = {
    "throttles": {
        "partner": {"concurrency": 2, "timeout": 60},
        "bulk": {"worker": 5, "timeout": 30},
    }
}


async def enterprise_ui(make_ui: Callable[..., Any]) -> Ui:
    ui: Ui = await make_ui(plugins=PLUGINS, toml=THROTTLES)
    await ui.server.kernel.startup(ui.server)
    return ui


async def test_busy_and_job_pages_show_progress(make_ui: Callable[..., Any]) -> None:
    ui = await enterprise_ui(make_ui)
    tracked = job("Import", custom={"track": 1}, retry=1)
    plain = job("Plain")
    await ui.push(tracked, plain)
    for _ in range(2):
        assert await ui.server.manager.fetch(["default"], "w1") is not None
    tracker = tracking.tracker_of(ui.server)
    assert tracker is not None
    update = tracking.tracker.parse_update(
        json.dumps({"jid": tracked.jid, "percent": 40, "desc": "Calculating..."}).encode()
    )
    await tracker.set(update)
    html = await ui.page("/busy")
    cells = re.findall(r'<td class="progress">([^<]*)</td>', html)
    assert sorted(cell.strip() for cell in cells) == ["", "40% Calculating..."]
    await ui.server.manager.fail(FailInfo.cleansed(tracked.jid, "E", "boom", ()))
    [key] = await ui.keys(SortedSet.RETRIES)
    html = await ui.page(f"/retries/{key}")
    assert re.search(
        r'<dd class="progress">40% Calculating... <span class="muted">\(failed\)', html
    )


async def test_the_throttles_tab_shows_limits_and_slots(make_ui: Callable[..., Any]) -> None:
    ui = await enterprise_ui(make_ui)
    await ui.push(*(job(queue="partner") for _ in range(3)))
    assert await ui.server.manager.fetch(["partner"], "w1") is not None
    html = await ui.page("/")
    assert 'href="/throttles">Throttles</a>' in html
    html = await ui.page("/throttles")
    rows = re.findall(r'<tr class="throttle" data-queue="([^"]+)">(.*?)</tr>', html, re.S)
    cells = {queue: re.findall(r"<td>([^<]*)</td>", body) for queue, body in rows}
    assert cells == {
        "bulk": ["0", "5 per worker", "", "", "30.0 s"],
        "partner": ["2", "2 concurrent", "1", "1", "60.0 s"],
    }
    data = (await ui.client.get("/throttles.json")).json()
    assert [(t["queue"], t["taken"], t["free"]) for t in data["throttles"]] == [
        ("bulk", None, None),
        ("partner", 1, 1),
    ]
