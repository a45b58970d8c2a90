"""A plugin adds a tab and a page that uses the site layout, as docs/webui.md describes (the
cron plugin does exactly this), through the core's page API (``faktory_core.web``) only."""

from __future__ import annotations

import re
import sys
import types
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import jinja2
import pytest
from litestar import get, post
from litestar.response import Redirect, Template

from faktory_core import web
from faktory_core.hookspecs import hookimpl
from faktory_core.plugins.webui import LAYOUT
from faktory_core.server.app import Server
from faktory_core.web import AnyRequest, UiServer, page, redirect

from .support import Ui

REPORTS_PAGE = """\
{% extends "layout.html" %}
{% block title %}Reports{% endblock %}
{% block content %}
<h1>Reports</h1>
<ul>{% for name in names %}<li class="report">{{ name }}</li>{% endfor %}</ul>
<p>Store: {{ store }}</p>
<form method="post" action="{{ url('/reports') }}"><button>Run</button></form>
{% endblock %}
"""


@get("/reports")
async def reports_page(server: UiServer) -> Template:
    context = {"names": ["nightly", "<script>x</script>"], "store": server.store.name}
    return page("reports.html", **context)


@post("/reports")
async def run_reports(request: AnyRequest) -> Redirect:
    RUNS.append(1)
    return redirect(request, "/reports")


RUNS: list[int] = []


class ReportsPlugin:
    @hookimpl
    def faktory_core_web_tabs(self, server: Server) -> Sequence[tuple[str, str]]:
        return [("Reports", "/reports")]

    @hookimpl
    def faktory_core_web_routes(self, server: Server) -> Sequence[Any]:
        return [reports_page, run_reports]

    @hookimpl
    def faktory_core_web_templates(self, server: Server) -> dict[str, str]:
        return {"reports.html": REPORTS_PAGE}


async def reports_ui(make_ui: Callable[..., Any], **config: Any) -> Ui:
    ui: Ui = await make_ui(plugins=[("reports", ReportsPlugin())], **config)
    return ui


def test_the_layout_name_is_public() -> None:
    assert LAYOUT == web.LAYOUT == "layout.html"


async def test_a_plugin_template_is_compiled_once(
    make_ui: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    compiled: list[str | None] = []
    original = jinja2.Environment.compile

    def counting(self: jinja2.Environment, source: Any, name: str | None = None, *a: Any) -> Any:
        compiled.append(name)
        return original(self, source, name, *a)

    monkeypatch.setattr(jinja2.Environment, "compile", counting)
    ui = await reports_ui(make_ui)
    for _ in range(3):
        assert '<li class="report">nightly</li>' in await ui.page("/reports")
    assert compiled.count("reports.html") == 1


async def test_a_plugin_tab_joins_the_nav(make_ui: Callable[..., Any]) -> None:
    ui = await reports_ui(make_ui)
    html = await ui.page("/")
    assert html.index('href="/morgue"') < html.index('href="/reports">Reports</a>')


async def test_a_plugin_page_gets_the_layout(make_ui: Callable[..., Any]) -> None:
    ui = await reports_ui(make_ui)
    response = await ui.client.get("/reports")
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    html = response.text
    assert "<title>Reports · Faktory</title>" in html
    assert 'id="summary-processed"' in html
    assert '<a href="/reports" class="active" aria-current="page">Reports</a>' in html
    assert '<li class="report">nightly</li>' in html
    assert "&lt;script&gt;x&lt;/script&gt;" in html
    assert f"<p>Store: {ui.store.name}</p>" in html


async def test_a_plugin_page_follows_the_proxy_prefix(make_ui: Callable[..., Any]) -> None:
    ui = await reports_ui(make_ui)
    proxy = {"X-Script-Name": "/fk"}
    html = await ui.page("/fk/reports", headers=proxy)
    assert 'action="/fk/reports"' in html
    response = await ui.post("/fk/reports", {}, headers=proxy)
    assert response.headers["location"] == "/fk/reports"


async def test_a_plugin_page_is_protected_like_the_others(make_ui: Callable[..., Any]) -> None:
    ui = await reports_ui(make_ui, web_password="s3cret")
    assert (await ui.client.get("/reports")).status_code == 401
    RUNS.clear()
    ui = await reports_ui(make_ui)
    cross = await ui.post("/reports", {}, headers={"Sec-Fetch-Site": "cross-site"})
    assert cross.status_code == 403
    assert RUNS == []


def _doc_example(monkeypatch: pytest.MonkeyPatch) -> types.ModuleType:
    """docs/webui.md's plugin page, run as the module it shows (imported, as Litestar reads
    a handler's annotations through its module)."""
    text = (Path(__file__).resolve().parents[2] / "docs" / "webui.md").read_text("utf-8")
    [source] = [b for b in re.findall(r"^```python\n(.*?)^```$", text, re.M | re.S) if "@get" in b]
    module = types.ModuleType("my_plugin")
    monkeypatch.setitem(sys.modules, "my_plugin", module)
    exec(compile(source, "docs/webui.md (my_plugin)", "exec"), module.__dict__)
    return module


async def test_the_documented_plugin_page_works(
    make_ui: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    ui = await make_ui(plugins=[("my_plugin", _doc_example(monkeypatch))])
    html = await ui.page("/reports")
    assert '<a href="/reports" class="active" aria-current="page">Reports</a>' in html
    assert f"<li>nightly</li><li>{ui.store.name}</li>" in html
    response = await ui.post("/reports", {})
    assert response.headers["location"] == "/reports"
