"""Real headless Chromium against a real server with its web UI on 127.0.0.1.

The browser is the first Chromium found — Debian's ``/usr/bin/chromium`` or ``chromium-browser``,
then Playwright's cache — driven by PyPI ``playwright``. When there is none, the first browser test
gets one (``chromium.py``: apt as root, else ``playwright install chromium``), so the README's
test command passes on a fresh machine; when that fails, the tests fail with the command to run,
in CI and out of it: they are never skipped.

Screenshots go to ``$WEBUI_SCREENSHOTS`` when set (``refresh_screenshots.py`` points it at
``docs/webui/``), else to a temporary artifacts folder.
"""

from __future__ import annotations

import functools
import json
import os
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import attrs
import pytest
from anyio.from_thread import start_blocking_portal
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, sync_playwright

from faktory_core.clock import Clock, FakeClock, SystemClock
from faktory_core.plugins import webui
from faktory_core.plugins.memory_store import MemoryStore
from faktory_core.protocol import Bulk, SimpleString
from faktory_core.server.app import Server
from faktory_core.testing import FwpSocket
from tests.browser.chromium import (
    ChromiumMissing,
    default_install_commands,
    default_lookup,
    ensure_chromium,
)
from tests.webui.support import serving

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
#: How long a browser waits for something to appear, in milliseconds.
TIMEOUT_MS = 15_000


@pytest.fixture(scope="session")
def chromium(pytestconfig: pytest.Config) -> Path:
    """The Chromium the tests drive: found, or installed now (see chromium.py)."""
    capture = pytestconfig.pluginmanager.getplugin("capturemanager")

    def say(line: str) -> None:
        with capture.global_and_fixture_disabled():
            print(f"\n{line}", flush=True)

    try:
        return ensure_chromium(default_lookup(), default_install_commands(), say=say)
    except ChromiumMissing as exc:
        pytest.fail(str(exc), pytrace=False)


# Module scope, not session: while Playwright's sync driver runs, its event loop is the main
# thread's, and the async tests that pytest runs after these could not start their own.
@pytest.fixture(scope="module")
def playwright(chromium: Path) -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="module")
def browser(playwright: Playwright, chromium: Path) -> Iterator[Browser]:
    browser = playwright.chromium.launch(
        executable_path=str(chromium), headless=True, args=CHROMIUM_ARGS
    )
    yield browser
    browser.close()


@pytest.fixture(scope="session")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    chosen = os.environ.get("WEBUI_SCREENSHOTS")
    folder = Path(chosen) if chosen else tmp_path_factory.mktemp("webui-artifacts")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@attrs.define(eq=False, slots=False)
class Live:
    """A running server (in its own thread) with the UI, and FWP helpers to feed it."""

    server: Server
    portal: Any
    clock: Clock
    sockets: list[FwpSocket] = attrs.field(factory=list)

    @property
    def url(self) -> str:
        port = webui.web_port(self.server)
        assert port is not None
        return f"http://127.0.0.1:{port}"

    def fwp(self, **hello: Any) -> FwpSocket:
        conn = FwpSocket.open(self.server.port, **hello)
        self.sockets.append(conn)
        return conn

    @functools.cached_property
    def producer(self) -> FwpSocket:
        """One connection for pushing, working and INFO (a real client keeps one open)."""
        return self.fwp()

    def push(self, jobtype: str = "SomeJob", count: int = 1, **fields: Any) -> list[str]:
        conn = self.producer
        jids = []
        for n in range(count):
            jid = uuid.uuid4().hex[:16]
            payload = {"jid": jid, "jobtype": jobtype, "args": [n], **fields}
            reply = conn.json_command("PUSH", payload)
            assert reply == SimpleString("OK"), reply
            jids.append(jid)
        return jids

    def work(self, queue: str = "default", *, fail: bool = False, **failure: Any) -> str:
        """FETCH one job from ``queue`` and ACK it (or FAIL it)."""
        conn = self.producer
        job = conn.bulk_json("FETCH", queue)
        if fail:
            info = {"jid": job["jid"], "errtype": "RuntimeError", "message": "boom", **failure}
            conn.json_command("FAIL", info)
        else:
            conn.json_command("ACK", {"jid": job["jid"]})
        jid: str = job["jid"]
        return jid

    def info(self) -> dict[str, Any]:
        data: dict[str, Any] = self.producer.bulk_json("INFO")
        return data

    def call(self, func: Callable[..., Any], *args: Any) -> Any:
        return self.portal.call(func, *args)

    def close(self) -> None:
        for conn in self.sockets:
            conn.close()


def _start(stack: ExitStack, tmp: Path, clock: Clock) -> Live:
    portal = stack.enter_context(start_blocking_portal("asyncio"))
    store = MemoryStore(clock)
    server = stack.enter_context(
        portal.wrap_async_context_manager(serving(store, clock, tmp, web_binding="127.0.0.1:0"))
    )
    live = Live(server, portal, clock)
    stack.callback(live.close)
    return live


@pytest.fixture
def live(tmp_path: Path) -> Iterator[Live]:
    """A server on the real clock with the UI on 127.0.0.1 (an ephemeral port)."""
    with ExitStack() as stack:
        yield _start(stack, tmp_path, SystemClock())


@pytest.fixture
def live_history(tmp_path: Path) -> Iterator[Live]:
    """A server on a fake clock started four weeks ago; tests advance it day by day."""
    with ExitStack() as stack:
        yield _start(stack, tmp_path, FakeClock(start=time.time() - 28 * 86400))


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    yield context
    context.close()


@pytest.fixture
def page(context: BrowserContext) -> Page:
    page = context.new_page()
    page.on("dialog", lambda dialog: dialog.accept())  # the UI's "are you sure?" prompts
    return page


def bulk_state(reply: Any) -> dict[str, Any] | None:
    if isinstance(reply, Bulk) and reply.data is not None:
        data: dict[str, Any] = json.loads(reply.data)
        return data
    return None
