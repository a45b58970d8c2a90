"""Issue 13 on the web UI: frames denied everywhere, the Host check (DNS rebinding), control
characters in paths and logs, and a jid ending in ``//``."""

from __future__ import annotations

import base64
import logging
from collections.abc import Callable
from typing import Any

import attrs
import pytest

from faktory_core.config import freeze
from faktory_core.model import SortedSet
from faktory_core.plugins.webui.logsafe import loggable
from faktory_core.plugins.webui.security import host_allowed
from faktory_core.plugins.webui.sets import entry_path

from .support import Ui, job

FRAMES = {"x-frame-options": "DENY", "content-security-policy": "frame-ancestors 'none'"}


def framed(response: Any) -> dict[str, str]:
    return {name: response.headers.get(name) for name in FRAMES}


# -- frames -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "status"),
    [("/", 200), ("/retries", 200), ("/health", 200), ("/stats", 200), ("/nowhere", 404)],
)
async def test_every_response_denies_frames(ui: Ui, path: str, status: int) -> None:
    response = await ui.client.get(path)
    assert response.status_code == status
    assert framed(response) == FRAMES


async def test_static_files_and_refusals_deny_frames_too(make_ui: Callable[..., Any]) -> None:
    ui: Ui = await make_ui(web_password="s3cret")
    refused = await ui.client.get("/")
    assert refused.status_code == 401
    assert framed(refused) == FRAMES
    static = await ui.client.get("/static/app.css")
    assert static.status_code == 200
    assert framed(static) == FRAMES


# -- Host (DNS rebinding) -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "allowed"),
    [
        ("localhost", True),
        ("localhost:7420", True),
        ("LOCALHOST.", True),
        ("app.localhost:80", True),
        ("127.0.0.1:7420", True),
        ("10.1.2.3", True),
        ("[::1]:7420", True),
        ("[fe80::1]", True),
        ("evil.example", False),
        ("evil.example:7420", False),
        ("localhost.evil.example", False),
        ("127.0.0.1.evil.example", False),
        ("", False),
        (None, False),
        ("faktory.internal:7420", True),  # listed
    ],
)
def test_host_allowed(host: str | None, allowed: bool) -> None:
    assert host_allowed(host, {"faktory.internal"}) is allowed


def test_a_star_allows_every_host() -> None:
    assert host_allowed("evil.example", {"*"})


async def test_a_rebound_name_is_refused_without_a_password(ui: Ui) -> None:
    for path in ("/", "/health", "/stats", "/static/app.css"):
        response = await ui.client.get(path, headers={"Host": "evil.example:7420"})
        assert response.status_code == 403, path
        assert "Host 'evil.example:7420' is not allowed" in response.text
        assert "[web] allowed_hosts" in response.text
    posted = await ui.client.post("/morgue", data={"key": "all", "action": "delete"},
                                  headers={"Host": "evil.example"})  # fmt: skip
    assert posted.status_code == 403


async def test_allowed_hosts_and_the_bound_host(make_ui: Callable[..., Any]) -> None:
    toml = freeze({"web": {"allowed_hosts": ["Faktory.Internal"]}})
    ui: Ui = await make_ui(web_binding="ui.example:0", toml=toml)
    for host in ("faktory.internal", "ui.example:7420", "192.168.1.9:7420", "localhost"):
        response = await ui.client.get("/", headers={"Host": host})
        assert response.status_code == 200, host
    assert (await ui.client.get("/", headers={"Host": "other.example"})).status_code == 403


async def test_allowed_hosts_must_be_a_list(make_ui: Callable[..., Any]) -> None:
    with pytest.raises(ValueError, match=r"\[web\] allowed_hosts must be a list of host names"):
        await make_ui(toml=freeze({"web": {"allowed_hosts": "faktory.internal"}}))


async def test_with_a_password_any_host_may_log_in(make_ui: Callable[..., Any]) -> None:
    ui: Ui = await make_ui(web_password="s3cret")
    token = base64.b64encode(b"admin:s3cret").decode()
    headers = {"Host": "faktory.example.com", "Authorization": f"Basic {token}"}
    assert (await ui.client.get("/", headers=headers)).status_code == 200
    assert (await ui.client.get("/", headers={"Host": "faktory.example.com"})).status_code == 401


# -- control characters -------------------------------------------------------------------------


async def test_a_forged_log_line_is_escaped(ui: Ui, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    response = await ui.client.get("/static/x%0aE%20FORGED%00")
    assert response.status_code == 400  # was a 500 (embedded null byte) logged with the path
    assert response.text == "the path has a control character"
    assert framed(response) == FRAMES
    for record in caplog.records:
        text = record.getMessage()
        assert "\n" not in text
        assert "\x00" not in text


@pytest.mark.parametrize(
    ("value", "logged"),
    [
        ("/static/x\nE FORGED\x00", "/static/x\\x0aE FORGED\\x00"),
        ("a\r\nb\tc\x1b[31m", "a\\x0d\\x0ab\\x09c\\x1b[31m"),
        ("sep\u2028par\u2029del\x7fc1\x85", "sep\\u2028par\\u2029del\\x7fc1\\x85"),
        ("back\\x0a", "back\\\\x0a"),  # a literal backslash cannot fake an escape
        (b"bytes\n\xff", "bytes\\x0a\\\\xff"),
        ("ok/é/ü", "ok/é/ü"),
        ("x" * 400, "x" * 300 + "…"),
    ],
)
def test_loggable(value: str | bytes, logged: str) -> None:
    assert loggable(value) == logged


# -- a jid ending in "//" -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "jid", ["ends-in//", "/starts-with", "mid//dle", "%2F%2F%2F%2F", "sp ace?x=1#y"]
)
async def test_odd_jids_open_and_act(ui: Ui, jid: str) -> None:
    item = attrs.evolve(job("Odd", retry=-1), jid=jid)
    await ui.fail(item)
    (key,) = await ui.keys(SortedSet.DEAD)
    path = entry_path("/morgue", key)
    response = await ui.client.get(path, follow_redirects=False)
    assert response.status_code == 200, (path, response.status_code, response.headers)
    assert jid in response.text or jid.replace("#", "&#35;") in response.text
    posted = await ui.post(path, {"action": "delete"})
    assert posted.status_code in (302, 303)
    assert await ui.keys(SortedSet.DEAD) == []
