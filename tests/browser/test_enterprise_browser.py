"""Tracking progress and the Throttles tab in real headless Chromium."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
from anyio.from_thread import start_blocking_portal
from playwright.sync_api import Page, expect

from faktory_core.clock import SystemClock
from faktory_core.plugins import memory_store, throttle, tracking
from faktory_core.plugins.memory_store import MemoryStore
from faktory_core.protocol import SimpleString
from tests.webui.support import serving

from .conftest import Live

PLUGINS = [("memory_store", memory_store), ("tracking", tracking), ("throttle", throttle)]
THROTTLES = {"throttles": {"partner": {"concurrency": 2, "timeout": 60}}}


@pytest.fixture
def live_enterprise(tmp_path: Path) -> Iterator[Live]:
    with ExitStack() as stack:
        portal = stack.enter_context(start_blocking_portal("asyncio"))
        clock = SystemClock()
        running = serving(
            MemoryStore(clock), clock, tmp_path, PLUGINS, web_binding="127.0.0.1:0", toml=THROTTLES
        )
        server = stack.enter_context(portal.wrap_async_context_manager(running))
        live = Live(server, portal, clock)
        stack.callback(live.close)
        yield live


def test_busy_shows_progress_and_the_throttles_tab_its_slots(
    live_enterprise: Live, page: Page
) -> None:
    live = live_enterprise
    [jid] = live.push("Import", queue="partner", custom={"track": 1})
    conn = live.producer
    assert conn.bulk_json("FETCH", "partner")["jid"] == jid
    update = {"jid": jid, "percent": 40, "desc": "Calculating..."}
    assert conn.call(b"TRACK SET " + json.dumps(update).encode() + b"\r\n") == SimpleString("OK")
    page.goto(live.url + "/busy")
    expect(page.locator("td.progress")).to_have_text("40% Calculating...")
    page.locator('nav a[href="/throttles"]').click()
    row = page.locator('tr.throttle[data-queue="partner"]')
    expect(row.locator("td")).to_have_text(["partner", "0", "2 concurrent", "1", "1", "60.0 s"])
