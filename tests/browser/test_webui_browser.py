"""The web UI in real headless Chromium: the dashboard and its realtime graph, retry by clicking,
Quiet reaching a worker through BEAT, paging, a filter, a phone-sized screen, screenshots."""

from __future__ import annotations

import subprocess
from pathlib import Path

from playwright.sync_api import Browser, Page, expect

from .conftest import TIMEOUT_MS, Live, bulk_state

PHONE = {"width": 390, "height": 844}


def canvas_image(page: Page) -> str:
    image: str = page.eval_on_selector("#realtime", "canvas => canvas.toDataURL()")
    return image


def polls(page: Page) -> int:
    return int(page.get_attribute("#realtime", "data-polls") or 0)


def test_the_browser_is_the_chromium_found(browser: Browser, chromium: Path) -> None:
    reported = subprocess.run(
        [str(chromium), "--version"], capture_output=True, text=True, check=True
    ).stdout
    assert browser.version.split(".")[0] in reported


def test_dashboard_realtime_graph_follows_stats(live: Live, page: Page) -> None:
    page.add_init_script("window.localStorage.setItem('timeInterval', '2000')")
    page.goto(live.url + "/")
    expect(page.locator("h1")).to_have_text("Dashboard")
    expect(page.locator("#poll-interval")).to_have_value("2")
    page.wait_for_function("document.querySelector('#realtime').dataset.polls >= 1")
    before = canvas_image(page)
    live.push(count=3)
    live.work()
    live.work()
    expect(page.locator("#summary-enqueued")).to_have_text("1")
    expect(page.locator("#summary-processed")).to_have_text("2")
    page.wait_for_function(
        "document.querySelector('#rt-processed').textContent !== '0'", timeout=TIMEOUT_MS
    )
    assert canvas_image(page) != before


def test_poll_interval_is_adjustable_and_remembered(live: Live, page: Page) -> None:
    page.goto(live.url + "/")
    page.locator("#poll-interval").fill("12")
    expect(page.locator("#poll-interval-value")).to_have_text("12")
    assert page.evaluate("localStorage.getItem('timeInterval')") == "12000"
    page.reload()
    expect(page.locator("#poll-interval")).to_have_value("12")


def test_retry_now_moves_a_job_out_of_retries(live: Live, page: Page) -> None:
    [jid] = live.push("Flaky", queue="work")
    live.work("work", fail=True, message="try again")
    page.goto(live.url + "/retries")
    row = page.locator(f'tr.job[data-jid="{jid}"]')
    expect(row).to_contain_text("try again")
    bulk_retry = page.locator("form.bulk button[value=retry]")
    expect(bulk_retry).to_be_disabled()
    row.locator("input[type=checkbox]").check()
    expect(bulk_retry).to_be_enabled()
    bulk_retry.click()
    expect(page).to_have_url(live.url + "/retries")
    expect(page.locator("td.empty")).to_have_text("No jobs.")
    expect(page.locator("#summary-retries")).to_have_text("0")
    info = live.info()["faktory"]
    assert info["queues"] == {"work": 1}
    assert info["sets"]["retries"] == 0


def test_retry_from_the_job_page(live: Live, page: Page) -> None:
    [jid] = live.push("Flaky", queue="work")
    live.work("work", fail=True, errtype="IOError", backtrace=["worker.py:10", "job.py:3"])
    page.goto(live.url + "/retries")
    page.locator(f'tr.job[data-jid="{jid}"] td a').first.click()
    expect(page.locator("dd.errtype")).to_have_text("IOError")
    expect(page.locator("pre.backtrace")).to_contain_text("worker.py:10")
    page.get_by_role("button", name="Retry now").click()
    expect(page).to_have_url(live.url + "/retries")
    assert live.info()["faktory"]["queues"] == {"work": 1}


def test_quiet_on_busy_reaches_the_worker_through_beat(live: Live, page: Page) -> None:
    worker = live.fwp(wid="browser-worker", hostname="box", pid=321, labels=["python"])
    page.goto(live.url + "/busy")
    row = page.locator('tr.worker[data-wid="browser-worker"]')
    expect(row).to_contain_text("box:321")
    expect(row.locator(".state")).to_have_text("running")
    row.get_by_role("button", name="Quiet").click()
    expect(page).to_have_url(live.url + "/busy")
    expect(row.locator(".state")).to_have_text("quiet")
    reply = worker.json_command("BEAT", {"wid": "browser-worker"})
    assert bulk_state(reply) == {"state": "quiet"}


def test_stop_all_reaches_every_worker(live: Live, page: Page) -> None:
    first = live.fwp(wid="w-one")
    second = live.fwp(wid="w-two")
    page.goto(live.url + "/busy")
    page.get_by_role("button", name="Stop all").click()
    expect(page.locator(".state-terminate")).to_have_count(2)
    for worker, wid in ((first, "w-one"), (second, "w-two")):
        assert bulk_state(worker.json_command("BEAT", {"wid": wid})) == {"state": "terminate"}


def test_paging_through_a_queue(live: Live, page: Page) -> None:
    live.push(count=30)
    page.goto(live.url + "/queues/default")
    expect(page.locator("tr.job")).to_have_count(25)
    expect(page.locator(".pager .current")).to_have_text("Page 1 of 2")
    page.get_by_role("link", name="Next \u203a").click()
    expect(page).to_have_url(live.url + "/queues/default?page=2")
    expect(page.locator("tr.job")).to_have_count(5)
    page.get_by_role("link", name="\u2039 Previous").click()
    expect(page.locator("tr.job")).to_have_count(25)


def test_filter_and_retry_every_match(live: Live, page: Page) -> None:
    for jobtype in ("Mailer", "Mailer", "Billing"):
        live.push(jobtype, queue="work")
        live.work("work", fail=True)
    page.goto(live.url + "/retries")
    expect(page.locator("tr.job")).to_have_count(3)
    page.locator("details.find summary").click()
    page.get_by_label("Job type").fill("Mailer")
    page.get_by_role("button", name="Find").click()
    expect(page.locator("tr.job")).to_have_count(2)
    page.get_by_role("button", name="Retry now: all matches").click()
    expect(page).to_have_url(live.url + "/retries?jobtype=Mailer")
    expect(page.locator("td.empty")).to_have_text("No job matches.")
    page.get_by_role("link", name="Clear").click()
    expect(page.locator("tr.job")).to_have_count(1)
    expect(page.locator("tr.job")).to_contain_text("Billing")


def test_phone_sized_screen(live: Live, browser: Browser, screenshots: Path) -> None:
    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    context.set_default_timeout(TIMEOUT_MS)
    try:
        page = context.new_page()
        page.goto(live.url + "/")
        page.screenshot(path=str(screenshots / "phone.png"))
        width = page.evaluate("document.documentElement.clientWidth")
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        tabs = page.locator("nav.tabs a")
        expect(tabs).to_have_count(6)
        for index in range(6):
            tab = tabs.nth(index)
            tab.scroll_into_view_if_needed()
            box = tab.bounding_box()
            assert box is not None
            assert box["height"] >= 30  # a finger-sized target
        tabs.filter(has_text="Dead").tap()
        expect(page).to_have_url(live.url + "/morgue")
        assert page.evaluate("document.documentElement.scrollWidth") <= width
    finally:
        context.close()


def seed_history(live: Live) -> None:
    """A week of daily work on the fake clock, ending today."""
    for day in range(28):
        done = 3 + (day * 7) % 11
        live.push("Report", count=done)
        for n in range(done):
            live.work(fail=(n % 4 == 0))
        live.call(live.clock.advance, 86400)  # type: ignore[attr-defined]


def test_dashboard_screenshot(live_history: Live, page: Page, screenshots: Path) -> None:
    seed_history(live_history)
    live_history.push("Mailer", count=12, queue="mail")
    live_history.push("Billing", count=4)
    page.add_init_script("window.localStorage.setItem('timeInterval', '2000')")
    page.goto(live_history.url + "/?days=30")
    for poll, done in enumerate((6, 11, 4, 8), start=1):
        page.wait_for_function(f"document.querySelector('#realtime').dataset.polls >= {poll}")
        for n in range(done):
            live_history.work(fail=(n % 5 == 0))
    page.wait_for_function("document.querySelector('#realtime').dataset.polls >= 5")
    path = screenshots / "dashboard.png"
    page.screenshot(path=str(path), full_page=True)
    data = path.read_bytes()
    assert data.startswith(b"\x89PNG")
    assert len(data) > 20_000
    expect(page.locator("#history polyline.processed")).to_have_count(1)
    points = page.get_attribute("#history polyline.processed", "points") or ""
    assert len(points.split()) == 30
    heights = {point.split(",")[1] for point in points.split()}
    assert len(heights) > 3  # the graph has shape, not a flat line


def test_list_and_job_screenshots(live: Live, page: Page, screenshots: Path) -> None:
    for n, jobtype in enumerate(("Mailer", "Billing", "Thumbnail")):
        live.push(jobtype, queue="work", retry=5)
        live.work("work", fail=True, errtype="TimeoutError", message=f"upstream {n} timed out")
    for wid, host, rss in (("w-7f3a", "app-1", 184_320), ("w-91c2", "app-2", 96_256)):
        worker = live.fwp(wid=wid, hostname=host, pid=4021, labels=["ruby", "eu-west"])
        worker.json_command("BEAT", {"wid": wid, "rss_kb": rss})
    live.push("Thumbnail", args=["photo-1.jpg"])
    worker.bulk_json("FETCH", "default")
    page.goto(live.url + "/retries")
    page.screenshot(path=str(screenshots / "retries.png"), full_page=True)
    page.locator("tr.job td a").first.click()
    expect(page.locator("dd.errtype")).to_have_text("TimeoutError")
    page.screenshot(path=str(screenshots / "job.png"), full_page=True)
    page.goto(live.url + "/busy")
    page.screenshot(path=str(screenshots / "busy.png"), full_page=True)
    for name in ("retries", "job", "busy"):
        assert (screenshots / f"{name}.png").stat().st_size > 10_000
