"""The Batches tab in real headless Chromium: the list, a click through to a batch, its child
and back to the parent, with a description that would be markup if it were not escaped."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
from anyio.from_thread import start_blocking_portal
from playwright.sync_api import Page, expect

from faktory_core.clock import SystemClock
from faktory_core.plugins import memory_store
from faktory_core.plugins.batch import BatchPlugin
from faktory_core.plugins.memory_store import MemoryStore
from faktory_core.protocol import Bulk
from tests.webui.support import serving

from .conftest import Live


@pytest.fixture
def live(tmp_path: Path) -> Iterator[Live]:
    """A server on the real clock with the batch plugin and the UI on 127.0.0.1."""
    with ExitStack() as stack:
        portal = stack.enter_context(start_blocking_portal("asyncio"))
        clock = SystemClock()
        plugins = [("memory_store", memory_store), ("batch", BatchPlugin())]
        server = stack.enter_context(
            portal.wrap_async_context_manager(
                serving(MemoryStore(clock), clock, tmp_path, plugins=plugins)
            )
        )
        live = Live(server, portal, clock)
        stack.callback(live.close)
        yield live


def batch_new(live: Live, definition: dict[str, object]) -> str:
    reply = live.producer.call(b"BATCH NEW " + json.dumps(definition).encode() + b"\r\n")
    assert isinstance(reply, Bulk)
    assert reply.data is not None
    return reply.data.decode()


def test_batches_tab_list_and_pages(live: Live, page: Page) -> None:
    parent = batch_new(live, {"description": "<img src=x onerror=alert(1)>", "success": {
        "jobtype": "ImportDone"}})  # fmt: skip
    child = batch_new(live, {"parent_bid": parent, "complete": {"jobtype": "ChildDone"}})
    live.push("ImportRow", count=2, custom={"bid": parent})
    live.producer.command("BATCH", "COMMIT", parent)
    live.work()

    page.goto(live.url + "/")
    page.get_by_role("link", name="Batches").click()
    expect(page.locator("h1")).to_have_text("Batches")
    row = page.locator(f'tr.batch[data-bid="{parent}"]')
    expect(row).to_contain_text("<img src=x onerror=alert(1)>")
    expect(row.locator("td").nth(4)).to_have_text("1")  # pending
    expect(page.locator('img[src="x"]')).to_have_count(0)

    row.get_by_role("link").click()
    expect(page.locator("h1")).to_have_text(f"Batch {parent}")
    expect(page.locator(".batch-total")).to_have_text("2")
    expect(page.locator('tr.callback[data-kind="success"]')).to_contain_text("ImportDone")
    page.locator(".batch-child a").click()
    expect(page.locator("h1")).to_have_text(f"Batch {child}")
    expect(page.locator(".batch-state")).to_have_text("open")
    page.locator("a.batch-parent").click()
    expect(page.locator("h1")).to_have_text(f"Batch {parent}")
