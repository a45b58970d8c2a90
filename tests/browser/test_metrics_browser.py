"""The Metrics tab in real headless Chromium: the table, sorting by a click, a job type's detail
with its charts and histogram, and the screenshot docs/metrics.md shows."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
from anyio.from_thread import start_blocking_portal
from playwright.sync_api import Page, expect

from faktory_core.clock import FakeClock
from faktory_core.plugins.memory_store import MemoryStore
from faktory_core.plugins.metrics import MetricsPlugin
from tests.webui.support import serving

from .conftest import Live

#: Job types, their run time in seconds, and how often one fails (every nth run).
WORK = {"Mailer": (0.4, 7), "Thumbnail": (2.0, 0), "Report": (12.0, 3), "Billing": (0.05, 0)}


@pytest.fixture
def live_metrics(tmp_path: Path) -> Iterator[Live]:
    """A server on a fake clock with the metrics plugin, an hour of work behind it."""
    with ExitStack() as stack:
        portal = stack.enter_context(start_blocking_portal("asyncio"))
        clock = FakeClock(start=time.time() - 3600)
        plugins = [("metrics", MetricsPlugin(environ={}))]
        server = stack.enter_context(
            portal.wrap_async_context_manager(
                serving(MemoryStore(clock), clock, tmp_path, plugins=plugins)
            )
        )
        live = Live(server, portal, clock)
        stack.callback(live.close)
        for minute in range(60):
            for index, (jobtype, (seconds, fail_every)) in enumerate(WORK.items()):
                for run in range(1 + (minute + index) % 4):
                    live.push(jobtype, retry=0)  # a failure is not retried
                    job = live.producer.bulk_json("FETCH", "default")
                    live.call(clock.advance, seconds)
                    failing = fail_every and (minute + run) % fail_every == 0
                    verb = "FAIL" if failing else "ACK"
                    live.producer.json_command(verb, {"jid": job["jid"], "message": "boom"})
            live.call(clock.advance, 60 - 1)
        yield live


def test_metrics_page_sort_detail_and_screenshot(
    live_metrics: Live, page: Page, screenshots: Path
) -> None:
    page.goto(live_metrics.url + "/metrics/jobs")
    expect(page.locator("h1")).to_have_text("Metrics")
    rows = page.locator("tr.jobtype")
    expect(rows).to_have_count(4)
    expect(rows.first).to_have_attribute("data-jobtype", "Report")  # the most time
    expect(page.locator("#executions-chart rect")).not_to_have_count(0)
    page.screenshot(path=str(screenshots / "metrics.png"), full_page=True)
    page.get_by_role("link", name="Job type").click()
    expect(rows.first).to_have_attribute("data-jobtype", "Billing")
    page.get_by_role("link", name="Thumbnail").click()
    expect(page.locator("h1")).to_have_text("Metrics: Thumbnail")
    expect(page.locator("tr.bucket")).to_have_count(13)
    expect(page.locator("tr.bucket", has_text="≤ 2.5 s").locator("td").nth(1)).not_to_have_text("0")
    page.get_by_role("link", name="8h").click()
    expect(page.locator("a.period.active")).to_have_text("8h")
