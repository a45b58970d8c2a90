"""Basic auth, cross-origin protection, the X-Script-Name prefix and escaping (reference §9.2)."""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from typing import Any

import attrs
import pytest

from faktory_core.model import SortedSet, WorkerInfo
from faktory_core.plugins.webui.security import check_auth

from .support import Ui, job


def basic(password: str, user: str = "admin") -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


# -- Basic auth ---------------------------------------------------------------------------------


async def test_no_password_means_open(ui: Ui) -> None:
    assert (await ui.client.get("/")).status_code == 200


@pytest.mark.parametrize("setting", ["web_password", "password"])
async def test_password_required(make_ui: Callable[..., Any], setting: str) -> None:
    ui: Ui = await make_ui(**{setting: "s3cret"})
    response = await ui.client.get("/")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Basic realm="Faktory"'
    assert response.text == "Authorization required"
    wrong = await ui.client.get("/", headers=basic("nope"))
    assert wrong.status_code == 401
    assert wrong.text == "Authorization failed"
    assert wrong.headers["www-authenticate"] == 'Basic realm="Faktory"'
    for user in ("admin", "", "anyone"):
        assert (await ui.client.get("/", headers=basic("s3cret", user))).status_code == 200


async def test_web_password_beats_the_server_password(make_ui: Callable[..., Any]) -> None:
    ui: Ui = await make_ui(password="server", web_password="web")
    assert (await ui.client.get("/", headers=basic("server"))).status_code == 401
    assert (await ui.client.get("/", headers=basic("web"))).status_code == 200


@pytest.mark.parametrize(
    "header", ["Bearer abc", "Basic !!!", "Basic " + base64.b64encode(b"nocolon").decode(), ""]
)
async def test_malformed_credentials_are_required_again(
    make_ui: Callable[..., Any], header: str
) -> None:
    ui: Ui = await make_ui(web_password="s3cret")
    response = await ui.client.get("/busy", headers={"Authorization": header})
    assert response.status_code == 401
    assert response.text == "Authorization required"


async def test_every_page_and_action_is_behind_the_password(make_ui: Callable[..., Any]) -> None:
    ui: Ui = await make_ui(web_password="s3cret")
    for path in ("/", "/busy", "/queues", "/retries", "/scheduled", "/morgue", "/debug", "/stats"):
        assert (await ui.client.get(path)).status_code == 401, path
    response = await ui.post("/retries", {"action": "delete", "key": "all"})
    assert response.status_code == 401


async def test_health_and_static_are_open(make_ui: Callable[..., Any]) -> None:
    ui: Ui = await make_ui(web_password="s3cret")
    assert (await ui.client.get("/health")).status_code == 200
    assert (await ui.client.get("/static/app.css")).status_code == 200


async def test_password_is_read_on_every_request(make_ui: Callable[..., Any]) -> None:
    ui: Ui = await make_ui(web_password="old")
    await ui.server.reload(attrs.evolve(ui.server.config, web_password="new"))
    assert (await ui.client.get("/", headers=basic("old"))).status_code == 401
    assert (await ui.client.get("/", headers=basic("new"))).status_code == 200


def test_password_comparison_is_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    compared: list[tuple[bytes, bytes]] = []

    def spy(a: bytes, b: bytes) -> bool:
        compared.append((a, b))
        return a == b

    monkeypatch.setattr("faktory_core.plugins.webui.security.hmac.compare_digest", spy)
    assert check_auth("s3cret", basic("guess")["Authorization"]) is not None
    assert compared == [(b"guess", b"s3cret")]


# -- cross-origin protection ---------------------------------------------------------------------


def host_of(ui: Ui) -> str:
    return str(ui.client.base_url.netloc.decode())


@pytest.mark.parametrize("site", ["cross-site", "same-site"])
async def test_cross_site_post_is_403(ui: Ui, site: str) -> None:
    await ui.retry()
    response = await ui.post(
        "/retries", {"action": "delete", "key": "all"}, headers={"Sec-Fetch-Site": site}
    )
    assert response.status_code == 403
    assert response.text == "cross-origin request detected from Sec-Fetch-Site header"
    assert (await ui.stats())["faktory"]["sets"]["retries"] == 1


@pytest.mark.parametrize("site", ["same-origin", "none"])
async def test_same_origin_post_is_302(ui: Ui, site: str) -> None:
    await ui.retry()
    response = await ui.post(
        "/retries", {"action": "delete", "key": "all"}, headers={"Sec-Fetch-Site": site}
    )
    assert response.status_code == 302
    assert (await ui.stats())["faktory"]["sets"]["retries"] == 0


async def test_origin_must_match_host_without_sec_fetch_site(ui: Ui) -> None:
    await ui.worker("w1")
    foreign = {"Origin": "http://evil.example"}
    response = await ui.post("/busy", {"wid": "all", "signal": "quiet"}, headers=foreign)
    assert response.status_code == 403
    assert "Origin does not match Host" in response.text
    own = {"Origin": f"http://{host_of(ui)}"}
    response = await ui.post("/busy", {"wid": "all", "signal": "quiet"}, headers=own)
    assert response.status_code == 302


async def test_a_post_without_either_header_passes(ui: Ui) -> None:
    await ui.push(job())
    response = await ui.post("/queues/default", {"action": "pause"})
    assert response.status_code == 302


async def test_safe_methods_and_stats_are_not_checked(ui: Ui) -> None:
    cross = {"Sec-Fetch-Site": "cross-site"}
    assert (await ui.client.get("/retries", headers=cross)).status_code == 200
    assert (await ui.client.post("/stats", headers=cross)).status_code == 200
    assert (await ui.client.post("/health", headers=cross)).status_code == 200


# -- X-Script-Name -----------------------------------------------------------------------------

PROXY = {"X-Script-Name": "/faktory"}


async def test_links_carry_the_prefix(ui: Ui) -> None:
    await ui.retry()
    html = await ui.page("/retries", headers=PROXY)
    links = re.findall(r'(?:href|src|action)="([^"]*)"', html)
    assert links
    assert all(link.startswith("/faktory/") for link in links), links
    assert 'href="/faktory/retries/' in html


async def test_prefixed_paths_are_routed(ui: Ui) -> None:
    assert "Busy" in await ui.page("/faktory/busy", headers=PROXY)
    assert (await ui.client.get("/faktory", headers=PROXY)).status_code == 200
    assert (await ui.client.get("/faktory/static/app.css", headers=PROXY)).status_code == 200


async def test_redirects_carry_the_prefix(ui: Ui) -> None:
    await ui.worker("w1")
    response = await ui.post("/faktory/busy", {"wid": "w1", "signal": "quiet"}, headers=PROXY)
    assert response.headers["location"] == "/faktory/busy"
    missing = await ui.client.get("/retries/1|x", headers=PROXY, follow_redirects=False)
    assert missing.headers["location"] == "/faktory/retries"


async def test_dashboard_polls_stats_under_the_prefix(ui: Ui) -> None:
    assert 'data-stats-url="/faktory/stats"' in await ui.page("/", headers=PROXY)


@pytest.mark.parametrize("prefix", ['/a"><script>', "relative", "//evil.example", "/a b"])
async def test_a_malformed_prefix_is_ignored(ui: Ui, prefix: str) -> None:
    html = await ui.page("/", headers={"X-Script-Name": prefix})
    assert 'href="/busy"' in html


# -- escaping -----------------------------------------------------------------------------------

EVIL_TYPE = "<script>alert('type')</script>"
EVIL_ARG = "<script>alert('arg')</script>"
EVIL_MESSAGE = "<script>alert('message')</script>"
EVIL_TRACE = "<script>alert('trace')</script>"


def assert_escaped(html: str, *texts: str) -> None:
    """Every ``<script`` in the page is one of ours; each evil text shows as text."""
    assert re.findall(r"<script(?! src=\"/static/)", html) == []
    for text in texts:
        assert text.replace("<", "&lt;").replace(">", "&gt;").split("(")[0] in html


async def test_job_values_are_shown_as_text(ui: Ui) -> None:
    await ui.push(job(EVIL_TYPE, args=[EVIL_ARG]))
    failing = {"errtype": EVIL_TYPE, "message": EVIL_MESSAGE, "backtrace": [EVIL_TRACE]}
    await ui.retry(EVIL_TYPE, args=[EVIL_ARG], **failing)
    await ui.dead(EVIL_TYPE, args=[EVIL_ARG], **failing)
    assert_escaped(await ui.page("/queues/default"), EVIL_TYPE, EVIL_ARG)
    assert_escaped(await ui.page("/retries"), EVIL_TYPE, EVIL_ARG, EVIL_MESSAGE)
    assert_escaped(await ui.page("/morgue"), EVIL_TYPE, EVIL_ARG, EVIL_MESSAGE)
    for which, base in ((SortedSet.RETRIES, "/retries"), (SortedSet.DEAD, "/morgue")):
        [key] = await ui.keys(which)
        detail = await ui.page(f"{base}/{key}")
        assert_escaped(detail, EVIL_TYPE, EVIL_ARG, EVIL_MESSAGE, EVIL_TRACE)
        assert "&lt;script&gt;alert(&#39;trace&#39;)&lt;/script&gt;" in detail


async def test_found_jobs_and_search_terms_are_escaped(ui: Ui) -> None:
    await ui.retry(EVIL_TYPE, args=[EVIL_ARG])
    html = await ui.page("/retries", params={"jobtype": EVIL_TYPE, "text": "<script>"})
    assert_escaped(html, EVIL_TYPE, EVIL_ARG)
    assert 'value="&lt;script&gt;"' in html


async def test_worker_values_are_escaped(ui: Ui) -> None:
    evil = WorkerInfo(wid="<script>w</script>", hostname="<script>h</script>", labels=("<x>",))
    await ui.server.manager.connect_worker(evil)
    assert_escaped(await ui.page("/busy"), "<script>w</script>", "<script>h</script>")
