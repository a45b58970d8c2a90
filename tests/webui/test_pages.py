"""Every page and action of the web UI through Litestar's test client, including the items of
Faktory's webui/pages_test.go and web_test.go (reference §14)."""

from __future__ import annotations

import re

import pytest

from faktory_core.model import SortedSet, WorkerState
from faktory_core.plugins.webui.helpers import (
    PAGE_SIZE,
    format_latency,
    latency_category,
    relative_time,
)

from .support import Ui, bkey, job, rows

# -- dashboard ----------------------------------------------------------------------------------


async def test_dashboard_shows_uptime_idle_and_the_counters(ui: Ui) -> None:
    await ui.push(job(), job())
    html = await ui.page("/")
    assert "uptime_in_days" in html
    assert "Uptime" in html
    assert '<span class="status status-idle" id="status">idle</span>' in html
    assert '<b id="summary-enqueued">2</b>' in html
    for label in ("Processed", "Failed", "Busy", "Enqueued", "Retries", "Scheduled", "Dead"):
        assert f"<span>{label}</span>" in html
    assert 'id="realtime"' in html
    assert 'data-stats-url="/stats"' in html
    assert "/static/dashboard.js" in html


async def test_dashboard_is_active_while_a_job_is_in_progress(ui: Ui) -> None:
    await ui.push(job())
    await ui.server.manager.fetch(["default"])
    assert "status-active" in await ui.page("/")


@pytest.mark.parametrize("days", ["7", "30", "90", "180"])
async def test_history_graph_for_each_range(ui: Ui, days: str) -> None:
    html = await ui.page(f"/?days={days}")
    assert f"last {days} days" in html
    points = re.search(r'<polyline class="processed" points="([^"]*)"', html)
    assert points is not None
    assert len(points.group(1).split()) == int(days)


async def test_history_is_capped_at_180_days(ui: Ui) -> None:
    assert "last 180 days" in await ui.page("/?days=5000")


async def test_history_counts_todays_work(ui: Ui) -> None:
    await ui.retry()
    html = await ui.page("/?days=7")
    assert "Processed 1" in html
    assert "Failed 1" in html


@pytest.mark.parametrize("days", ["x", "-1", "0", "7.5", "", "1e3", "٣"])
async def test_bad_days_is_400(ui: Ui, days: str) -> None:
    response = await ui.client.get("/", params={"days": days})
    assert response.status_code == 400
    assert response.text == "Invalid parameter"


async def test_dashboard_is_get_only(ui: Ui) -> None:
    assert (await ui.client.post("/")).status_code == 405


async def test_unknown_path_is_404(ui: Ui) -> None:
    assert (await ui.client.get("/nowhere")).status_code == 404


# -- /stats and /health -------------------------------------------------------------------------


async def test_stats_is_info_json_uncached(ui: Ui) -> None:
    await ui.push(job(queue="critical"), job(), job())
    response = await ui.client.get("/stats")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert response.headers["cache-control"] == "no-cache"
    data = response.json()
    assert list(data) == ["now", "server_utc_time", "faktory", "server"]
    assert data["faktory"]["queues"] == {"critical": 1, "default": 2}
    assert isinstance(data["server"]["uptime"], int)
    # INFO itself, read again (its clock fields may have moved on by a second meanwhile).
    info = await ui.server.info()
    assert data["faktory"] == info["faktory"]
    assert list(data["server"]) == list(info["server"])


async def test_stats_no_longer_lists_a_cleared_queue(ui: Ui) -> None:
    await ui.push(job(queue="gone"), job())
    await ui.post("/queues/gone", {"action": "delete"})
    assert (await ui.stats())["faktory"]["queues"] == {"default": 1}


async def test_health_shape(ui: Ui) -> None:
    response = await ui.client.get("/health")
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-cache"
    data = response.json()
    assert list(data) == ["now", "server"]
    assert list(data["server"]) == [
        "command_count",
        "connections",
        "description",
        "faktory_version",
    ]


# -- queues -------------------------------------------------------------------------------------


async def test_queues_list_size_latency_and_state(ui: Ui) -> None:
    await ui.push(job(queue="mail"), job(queue="mail"), job())
    html = await ui.page("/queues")
    assert rows(html, "queue") == ["default", "mail"]
    assert re.search(r'data-queue="mail">.*?<td class="num">2</td>', html, re.S)
    assert "latency-" in html


async def test_pause_and_resume_a_queue(ui: Ui) -> None:
    await ui.push(job(queue="mail"))
    response = await ui.post("/queues/mail", {"action": "pause"})
    assert response.status_code == 302
    assert response.headers["location"] == "/queues"
    assert await ui.store.paused() == {"mail"}
    assert 'value="resume">Resume' in await ui.page("/queues")
    await ui.post("/queues/mail", {"action": "resume"})
    assert await ui.store.paused() == set()


async def test_clear_a_queue(ui: Ui) -> None:
    await ui.push(job(queue="mail"), job(queue="mail"))
    response = await ui.post("/queues/mail", {"action": "delete"})
    assert response.status_code == 302
    assert await ui.store.queue_names() == []


async def test_bad_queue_action_is_400(ui: Ui) -> None:
    await ui.push(job())
    response = await ui.post("/queues/default", {"action": "explode"})
    assert response.status_code == 400
    assert response.text == "Invalid action: explode"


async def test_queue_page_shows_a_job_and_delete_empties_it(ui: Ui) -> None:
    queued = job("Mailer", args=["ada@example.com"])
    await ui.push(queued)
    html = await ui.page("/queues/default")
    assert rows(html) == [queued.jid]
    assert "ada@example.com" in html
    response = await ui.post("/queues/default", {"bkey": queued.jid})
    assert response.status_code == 302
    assert response.headers["location"] == "/queues/default"
    assert rows(await ui.page("/queues/default")) == []
    assert await ui.store.queue_size("default") == 0


async def test_queue_delete_takes_faktorys_base64_bkey(ui: Ui) -> None:
    first, second, third = job(), job(), job()
    await ui.push(first, second, third)
    await ui.post("/queues/default", {"bkey": [bkey(first), third.jid]})
    assert [j.jid for j in await ui.store.queue_page("default", 0, 10)] == [second.jid]


async def test_queue_page_newest_first_25_a_page(ui: Ui) -> None:
    jobs = [job(args=[n]) for n in range(PAGE_SIZE + 5)]
    await ui.push(*jobs)
    newest_first = [j.jid for j in reversed(jobs)]
    first = await ui.page("/queues/default")
    assert rows(first) == newest_first[:PAGE_SIZE]
    assert "Page 1 of 2" in first
    assert 'href="/queues/default?page=2" rel="next"' in first
    second = await ui.page("/queues/default?page=2")
    assert rows(second) == newest_first[PAGE_SIZE:]
    assert 'href="/queues/default?page=1" rel="prev"' in second


async def test_unknown_queue_redirects_to_queues(ui: Ui) -> None:
    response = await ui.client.get("/queues/nope", follow_redirects=False)
    assert response.status_code == 302
    assert response.headers["location"] == "/queues"


@pytest.mark.parametrize("path", ["/queues/default", "/retries", "/scheduled", "/morgue"])
@pytest.mark.parametrize("page", ["x", "-1", "1.5", "1e3", "9999999999999"])
async def test_bad_page_is_400(ui: Ui, path: str, page: str) -> None:
    await ui.push(job())
    response = await ui.client.get(path, params={"page": page})
    assert response.status_code == 400
    assert response.text == "Invalid parameter"


async def test_page_zero_is_the_first_page(ui: Ui) -> None:
    await ui.push(job())
    assert len(rows(await ui.page("/queues/default?page=0"))) == 1


# -- retries ------------------------------------------------------------------------------------


async def test_retries_list(ui: Ui) -> None:
    failed = await ui.retry("Flaky", args=["x"], errtype="IOError", message="disk full")
    html = await ui.page("/retries")
    assert rows(html) == [failed.jid]
    assert "Flaky" in html
    assert "<b>IOError</b>: disk full" in html
    assert 'href="/queues/work"' in html
    assert 'class="num">0</td>' in html  # retry count


async def test_retry_now_moves_the_job_to_its_queue(ui: Ui) -> None:
    failed = await ui.retry()
    [key] = await ui.keys(SortedSet.RETRIES)
    response = await ui.post("/retries", {"action": "retry", "key": key})
    assert response.status_code == 302
    assert response.headers["location"] == "/retries"
    assert await ui.keys(SortedSet.RETRIES) == []
    [queued] = await ui.store.queue_page("work", 0, 10)
    assert queued.jid == failed.jid


async def test_kill_moves_a_retry_to_dead(ui: Ui) -> None:
    await ui.retry()
    [key] = await ui.keys(SortedSet.RETRIES)
    response = await ui.post("/retries", {"action": "kill", "key": key})
    assert response.status_code == 302
    stats = (await ui.stats())["faktory"]["sets"]
    assert (stats["retries"], stats["dead"]) == (0, 1)


async def test_action_on_a_vanished_key_is_harmless(ui: Ui) -> None:
    await ui.retry()
    [key] = await ui.keys(SortedSet.RETRIES)
    await ui.store.set_remove(SortedSet.RETRIES, [key])
    for action in ("retry", "kill", "delete"):
        response = await ui.post("/retries", {"action": action, "key": key})
        assert response.status_code == 302
    assert (await ui.stats())["faktory"]["sets"]["dead"] == 0


async def test_act_on_several_keys(ui: Ui) -> None:
    for _ in range(3):
        await ui.retry()
    keys = await ui.keys(SortedSet.RETRIES)
    await ui.post("/retries", {"action": "delete", "key": keys[:2]})
    assert await ui.keys(SortedSet.RETRIES) == keys[2:]


@pytest.mark.parametrize(
    ("action", "retries", "dead", "queued"),
    [("retry", 0, 0, 3), ("delete", 0, 0, 0), ("kill", 0, 3, 0)],
)
async def test_act_on_all(ui: Ui, action: str, retries: int, dead: int, queued: int) -> None:
    for _ in range(3):
        await ui.retry()
    response = await ui.post("/retries", {"action": action, "key": "all"})
    assert response.status_code == 302
    sets = (await ui.stats())["faktory"]["sets"]
    assert (sets["retries"], sets["dead"]) == (retries, dead)
    assert await ui.store.queue_size("work") == queued


async def test_bad_set_action_is_400(ui: Ui) -> None:
    response = await ui.post("/retries", {"action": "explode", "key": "all"})
    assert response.status_code == 400
    assert response.text == "Invalid action: explode"


async def test_retry_detail_page(ui: Ui) -> None:
    failed = await ui.retry(
        "Flaky",
        args=[{"id": 7}],
        errtype="KeyError",
        message="no id",
        backtrace=["a.py:1", "b.py:2"],
    )
    [key] = await ui.keys(SortedSet.RETRIES)
    html = await ui.page(f"/retries/{key}")
    assert failed.jid in html
    assert "Flaky" in html
    assert '<dd class="errtype">KeyError</dd>' in html
    assert '<dd class="message">no id</dd>' in html
    assert '<pre class="backtrace">a.py:1\nb.py:2\n</pre>' in html
    assert '<pre class="payload">' in html
    assert "&#34;retry_count&#34;: 0" in html
    assert f'<input type="hidden" name="key" value="{key}">' in html


async def test_detail_page_link_from_the_list_works(ui: Ui) -> None:
    await ui.retry()
    html = await ui.page("/retries")
    href = re.search(r'<td><a href="(/retries/[^"]+)">', html)
    assert href is not None
    assert "Backtrace" in await ui.page(href.group(1).replace("&amp;", "&"))


async def test_missing_detail_redirects_to_the_list(ui: Ui) -> None:
    for path in ("/retries/1.5|nope", "/scheduled/x", "/morgue/1|a"):
        response = await ui.client.get(path, follow_redirects=False)
        assert response.status_code == 307
        assert response.headers["location"] == path.rsplit("/", 1)[0]


async def test_detail_page_post_acts_on_its_key(ui: Ui) -> None:
    await ui.retry()
    [key] = await ui.keys(SortedSet.RETRIES)
    response = await ui.post(f"/retries/{key}", {"action": "retry"})
    assert response.status_code == 302
    assert response.headers["location"] == "/retries"
    assert await ui.store.queue_size("work") == 1


# -- scheduled ----------------------------------------------------------------------------------


async def test_scheduled_list_detail_and_add_to_queue(ui: Ui) -> None:
    later = await ui.scheduled("Report")
    html = await ui.page("/scheduled")
    assert rows(html) == [later.jid]
    assert "in 1 hour" in html
    [key] = await ui.keys(SortedSet.SCHEDULED)
    assert "Report" in await ui.page(f"/scheduled/{key}")
    await ui.post("/scheduled", {"action": "add_to_queue", "key": key})
    assert await ui.store.queue_size("default") == 1
    assert await ui.keys(SortedSet.SCHEDULED) == []


async def test_scheduled_delete(ui: Ui) -> None:
    await ui.scheduled()
    [key] = await ui.keys(SortedSet.SCHEDULED)
    await ui.post("/scheduled", {"action": "delete", "key": key})
    assert await ui.keys(SortedSet.SCHEDULED) == []


async def test_scheduled_paging(ui: Ui) -> None:
    for n in range(PAGE_SIZE + 1):
        await ui.scheduled(in_seconds=100 + n)
    assert len(rows(await ui.page("/scheduled"))) == PAGE_SIZE
    assert len(rows(await ui.page("/scheduled?page=2"))) == 1


# -- dead ---------------------------------------------------------------------------------------


async def test_morgue_list_newest_first_retry_and_delete(ui: Ui) -> None:
    first = await ui.dead("OldDeath")
    await ui.clock.advance(60)
    second = await ui.dead("NewDeath", message="gone for good")
    html = await ui.page("/morgue")
    assert rows(html) == [second.jid, first.jid]
    assert "gone for good" in html
    keys = await ui.keys(SortedSet.DEAD)
    await ui.post("/morgue", {"action": "retry", "key": keys[0]})
    assert await ui.store.queue_size("work") == 1
    await ui.post("/morgue", {"action": "delete", "key": "all"})
    assert await ui.keys(SortedSet.DEAD) == []


async def test_dead_detail_page_posts_to_the_morgue(ui: Ui) -> None:
    await ui.dead()
    [key] = await ui.keys(SortedSet.DEAD)
    html = await ui.page(f"/morgue/{key}")
    assert '<form method="post" action="/morgue"' in html
    assert "Backtrace" in html


# -- busy ---------------------------------------------------------------------------------------


async def test_busy_lists_processes_and_jobs_in_progress(ui: Ui) -> None:
    await ui.worker("w1", labels=("ruby", "eu"), rss_kb=20480)
    await ui.push(job("Crunch", args=[42]))
    await ui.server.manager.fetch(["default"], "w1")
    html = await ui.page("/busy")
    assert rows(html, "worker") == ["w1"]
    assert "box:4242" in html
    assert '<span class="label">ruby</span>' in html
    assert "20.0 MB" in html
    assert "state-running" in html
    assert re.search(r"<td><code>w1</code></td>\s*<td><code>\w+</code></td>", html)
    assert "Crunch" in html
    assert "42" in html


async def test_quiet_one_worker(ui: Ui) -> None:
    await ui.worker("w1")
    await ui.worker("w2")
    response = await ui.post("/busy", {"wid": "w1", "signal": "quiet"})
    assert response.status_code == 302
    assert response.headers["location"] == "/busy"
    states = {w.wid: w.state for w in await ui.store.workers()}
    assert states == {"w1": WorkerState.QUIET, "w2": WorkerState.RUNNING}
    assert "state-quiet" in await ui.page("/busy")


async def test_stop_all_workers(ui: Ui) -> None:
    await ui.worker("w1")
    await ui.worker("w2")
    await ui.post("/busy", {"wid": "all", "signal": "terminate"})
    assert {w.state for w in await ui.store.workers()} == {WorkerState.TERMINATE}


async def test_bad_signal_is_400(ui: Ui) -> None:
    response = await ui.post("/busy", {"wid": "all", "signal": "explode"})
    assert response.status_code == 400
    assert response.text == "Invalid signal: explode"


# -- debug and static ---------------------------------------------------------------------------


async def test_debug_page(ui: Ui) -> None:
    html = await ui.page("/debug")
    assert "Disk Usage" in html
    assert f'<dd id="store-name">{ui.store.name}</dd>' in html
    assert "RSS" in html
    assert "faktory-core" in html


async def test_debug_shows_the_stores_own_report(ui: Ui, monkeypatch: pytest.MonkeyPatch) -> None:
    async def debug_info(store: object) -> dict[str, object]:
        return {"redis_version": "7.4", "Latency": {"rtt_us": 123}}

    monkeypatch.setattr(type(ui.store), "debug_info", debug_info, raising=False)
    html = await ui.page("/debug")
    assert "redis_version" in html
    assert "<code>7.4</code>" in html
    assert "rtt_us" in html


async def test_debug_survives_a_failing_store_report(
    ui: Ui, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def debug_info(store: object) -> dict[str, object]:
        raise ConnectionError("redis went away")

    monkeypatch.setattr(type(ui.store), "debug_info", debug_info, raising=False)
    assert "unavailable: ConnectionError" in await ui.page("/debug")


@pytest.mark.parametrize("name", ["app.css", "app.js", "dashboard.js", "logo.svg"])
async def test_static_assets_are_served_and_cached(ui: Ui, name: str) -> None:
    response = await ui.client.get(f"/static/{name}")
    assert response.status_code == 200
    assert response.content
    assert "max-age=3600" in response.headers["cache-control"]
    assert "public" in response.headers["cache-control"]


async def test_pages_use_no_outside_assets(ui: Ui) -> None:
    await ui.retry()
    for path in ("/", "/busy", "/queues", "/retries", "/debug"):
        html = await ui.page(path)
        assert not re.search(r'(src|href)="(https?:)?//', html), path


# -- ActiveJob ----------------------------------------------------------------------------------


async def test_activejob_wrapper_shows_the_wrapped_class(ui: Ui) -> None:
    wrapper = "ActiveJob::QueueAdapters::FaktoryAdapter::JobWrapper"
    await ui.push(job(wrapper, args=[{"job_class": "SignupJob"}], custom={"wrapped": "SignupJob"}))
    mailer = {"arguments": ["UserMailer", "welcome", "deliver_now"]}
    await ui.push(job(wrapper, args=[mailer], custom={"wrapped": "ActionMailer::MailDeliveryJob"}))
    html = await ui.page("/queues/default")
    assert "<td>SignupJob</td>" in html
    assert "<td>UserMailer#welcome</td>" in html


async def test_every_page_is_html(ui: Ui) -> None:
    await ui.retry()
    await ui.push(job())
    [key] = await ui.keys(SortedSet.RETRIES)
    pages = ["/", "/busy", "/queues", "/queues/default", "/retries", "/scheduled", "/morgue"]
    for path in [*pages, "/debug", f"/retries/{key}", "/retries?jobtype=SomeJob"]:
        response = await ui.client.get(path)
        assert response.headers["content-type"] == "text/html; charset=utf-8", path


async def test_the_active_tab_follows_the_page(ui: Ui) -> None:
    active = re.compile(r'<a href="([^"]*)" class="active" aria-current="page"')
    assert active.findall(await ui.page("/")) == ["/"]
    assert active.findall(await ui.page("/queues")) == ["/queues"]
    assert active.findall(await ui.page("/debug")) == []
    await ui.retry()
    [key] = await ui.keys(SortedSet.RETRIES)
    assert active.findall(await ui.page(f"/retries/{key}")) == ["/retries"]


@pytest.mark.parametrize(
    ("delta", "text"),
    [(0.4, "just now"), (34, "in 34 seconds"), (-1, "1 second ago"), (-125, "2 minutes ago"),
     (3600, "in 1 hour"), (-3 * 86400 - 5, "3 days ago")],
)  # fmt: skip
def test_relative_time(delta: float, text: str) -> None:
    assert relative_time(1000.0 + delta, 1000.0) == text


@pytest.mark.parametrize(
    ("seconds", "text", "category"),
    [(0, "-", "muted"), (0.3, "0.3s", "success"), (59.9, "59.9s", "warning"),
     (60, "1m", "danger"), (125, "2m 5s", "danger"), (5400, "1h 30m", "danger")],
)  # fmt: skip
def test_latency_as_faktory_shows_it(seconds: float, text: str, category: str) -> None:
    assert format_latency(seconds) == text
    assert latency_category(seconds) == category
