"""The cron routes the web UI mounts: the JSON state, "enqueue now", pause and resume, with the
state in the store so every server sharing it agrees."""

from __future__ import annotations

import base64
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from litestar import Litestar
from litestar.testing import AsyncTestClient

from faktory_core.clock import FakeClock
from faktory_core.plugins.cron import CronPlugin
from faktory_core.plugins.cron.web import routes, tabs
from faktory_core.plugins.memory_store import MemoryStore
from faktory_core.server.app import Server
from faktory_core.timefmt import format_ts

from .support import MINUTE, START, cron_server, queued

TICK = START - 30
ENTRIES = [
    {"name": "reports", "schedule": "0 9 * * 1-5", "timezone": "Europe/Berlin",
     "job": {"type": "Reports", "queue": "critical", "args": [1]}},
    {"name": "minutely", "schedule": "* * * * *", "job": {"type": "Tick"}},
]  # fmt: skip


@asynccontextmanager
async def client_for(server: Server) -> AsyncIterator[AsyncTestClient[Litestar]]:
    plugin = server.kernel.pm.get_plugin("cron")
    assert isinstance(plugin, CronPlugin)
    app = Litestar(route_handlers=routes(plugin, server), logging_config=None)
    async with AsyncTestClient(app) as client:
        yield client


async def state(client: AsyncTestClient[Litestar]) -> dict[str, Any]:
    response = await client.get("/cron.json")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    found: dict[str, Any] = response.json()
    return found


async def test_the_json_state(store: MemoryStore, clock: FakeClock) -> None:
    async with cron_server(store, clock, ENTRIES) as server, client_for(server) as client:
        found = await state(client)
    assert found["now"] == format_ts(START)
    reports, minutely = found["entries"]
    assert reports == {
        "identity": "reports",
        "name": "reports",
        "schedule": "0 9 * * 1-5",
        "description": "every Monday to Friday at 09:00",
        "timezone": "Europe/Berlin",
        "type": "Reports",
        "queue": "critical",
        "retry": 25,
        "args": [1],
        "custom": {},
        "next_run": "2025-06-16T07:00:00Z",
        "next_run_local": "2025-06-16T09:00:00+02:00",
        "last_run": None,
        "paused": False,
        "source": f'{server.config.config_dir / "conf.d"}: [[cron]] #1 "reports"',
    }
    assert minutely["description"] == "every minute"
    assert minutely["last_run"] == {
        "at": format_ts(TICK),
        "jid": minutely_jid(await queued(store)),
        "manual": False,
    }


def minutely_jid(jobs: list[Any]) -> str:
    [job] = jobs
    jid: str = job.jid
    return jid


async def test_enqueue_now(store: MemoryStore, clock: FakeClock) -> None:
    async with cron_server(store, clock, ENTRIES) as server, client_for(server) as client:
        response = await client.post("/cron/enqueue", params={"entry": "reports"})
        assert response.status_code == 200
        body = response.json()
        [job] = await queued(store, "critical")
        assert body == {"entry": "reports", "jid": job.jid}
        assert (job.jobtype, job.args, job.created_at) == ("Reports", [1], format_ts(START))
        [reports, _] = (await state(client))["entries"]
        assert reports["last_run"] == {"at": format_ts(START), "jid": job.jid, "manual": True}


async def test_pause_and_resume_are_shared_through_the_store(
    store: MemoryStore, clock: FakeClock
) -> None:
    async with (
        cron_server(store, clock, ENTRIES) as one,
        cron_server(store, clock, ENTRIES),
        client_for(one) as client,
    ):
        response = await client.post("/cron/pause", params={"entry": "minutely"})
        assert (response.status_code, response.json()) == (
            200,
            {"entry": "minutely", "paused": True},
        )
        assert [e["paused"] for e in (await state(client))["entries"]] == [False, True]
        await clock.advance(3 * MINUTE, step=1.0)
        assert await store.queue_size("default") == 1  # only 15:00, fired at start
        # "Enqueue now" works on a paused entry: it is a deliberate, one-off push.
        assert (await client.post("/cron/enqueue", params={"entry": "minutely"})).is_success
        assert await store.queue_size("default") == 2
        response = await client.post("/cron/resume", params={"entry": "minutely"})
        assert response.json() == {"entry": "minutely", "paused": False}
        await clock.advance(MINUTE, step=1.0)
    created = [job.created_at for job in await queued(store)]
    assert created == [
        format_ts(START),
        format_ts(START + 3 * MINUTE),
        format_ts(TICK + 4 * MINUTE),
    ]


async def test_form_posts_redirect_back_to_the_page(store: MemoryStore, clock: FakeClock) -> None:
    async with cron_server(store, clock, ENTRIES) as server, client_for(server) as client:
        response = await client.post(
            "/cron/pause",
            data={"entry": "reports"},
            headers={"x-script-name": "/faktory"},
            follow_redirects=False,
        )
        assert (response.status_code, response.headers["location"]) == (303, "/faktory/cron")
        response = await client.post(
            "/cron/resume",
            data={"entry": "reports"},
            headers={"x-script-name": "//evil.example"},
            follow_redirects=False,
        )
        assert response.headers["location"] == "/cron"
        assert [e["paused"] for e in (await state(client))["entries"]] == [False, False]


async def test_unknown_and_missing_entries(store: MemoryStore, clock: FakeClock) -> None:
    async with cron_server(store, clock, ENTRIES) as server, client_for(server) as client:
        for action in ("enqueue", "pause", "resume"):
            response = await client.post(f"/cron/{action}", params={"entry": "nope"})
            assert response.status_code == 404
            assert "no cron entry 'nope'" in response.text
            assert (await client.post(f"/cron/{action}")).status_code == 400


async def test_routes_answer_503_once_cron_is_stopped(store: MemoryStore, clock: FakeClock) -> None:
    async with cron_server(store, clock, ENTRIES) as server:
        pass
    async with client_for(server) as client:
        assert (await client.get("/cron.json")).status_code == 503


def test_the_tab() -> None:
    assert tabs() == [("Cron", "/cron")]


# -- in the web UI ---------------------------------------------------------------------------


@asynccontextmanager
async def web_ui(server: Server) -> AsyncIterator[AsyncTestClient[Litestar]]:
    from faktory_core.plugins.webui import create_app

    async with AsyncTestClient(create_app(server), base_url="http://app.localhost") as client:
        yield client


async def test_the_cron_tab_in_the_web_ui(store: MemoryStore, clock: FakeClock) -> None:
    async with cron_server(store, clock, ENTRIES) as server, web_ui(server) as client:
        home = (await client.get("/")).text
        assert '<a href="/cron">Cron</a>' in home
        page = await client.get("/cron")
        assert page.status_code == 200
        html = page.text
    assert "<title>Cron · Faktory</title>" in html
    assert '<a href="/cron" class="active" aria-current="page">Cron</a>' in html
    assert 'id="summary-enqueued"' in html  # the site layout around the page
    assert re.findall(r'<tr class="cron" data-entry="([^"]*)"', html) == ["reports", "minutely"]
    assert "every Monday to Friday at 09:00 (Europe/Berlin)" in html
    assert '<a href="/queues/critical">critical</a>' in html
    assert "2025-06-16T07:00:00Z" in html  # next run of reports
    assert html.count('<span class="muted">never</span>') == 1  # minutely ran at start
    assert html.count('<span class="state state-running">active</span>') == 2


async def test_the_page_buttons_work(store: MemoryStore, clock: FakeClock) -> None:
    async with cron_server(store, clock, ENTRIES) as server, web_ui(server) as client:
        proxy = {"X-Script-Name": "/fk"}
        html = (await client.get("/fk/cron", headers=proxy)).text
        assert 'action="/fk/cron/pause"' in html
        assert 'action="/fk/cron/enqueue"' in html
        response = await client.post(
            "/fk/cron/pause", data={"entry": "reports"}, headers=proxy, follow_redirects=False
        )
        assert (response.status_code, response.headers["location"]) == (303, "/fk/cron")
        response = await client.post("/cron/enqueue", data={"entry": "reports"})
        assert response.status_code == 200  # followed to the page
        html = response.text
        assert '<span class="state state-quiet">paused</span>' in html
        assert 'action="/cron/resume"' in html
        assert ", by hand</span>" in html
    assert [job.jobtype for job in await queued(store, "critical")] == ["Reports"]


async def test_the_web_ui_guards_the_actions(store: MemoryStore, clock: FakeClock) -> None:
    async with (
        cron_server(store, clock, ENTRIES, web_password="s3cret") as server,
        web_ui(server) as client,
    ):
        assert (await client.get("/cron.json")).status_code == 401
        auth = {"Authorization": "Basic " + base64.b64encode(b":s3cret").decode()}
        cross = {**auth, "Sec-Fetch-Site": "cross-site"}
        response = await client.post("/cron/enqueue", params={"entry": "reports"}, headers=cross)
        assert response.status_code == 403
        assert (await client.get("/cron.json", headers=auth)).status_code == 200
    assert await store.queue_size("critical") == 0
