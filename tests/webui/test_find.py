"""Find jobs: filter Retries, Scheduled, Dead and a queue field by field, page through the
matches, and act on every match at once, in chunks."""

from __future__ import annotations

import re

import pytest

from faktory_core.manager import MUTATE_CHUNK
from faktory_core.model import JobFilter, SortedSet
from faktory_core.plugins.webui import find
from faktory_core.plugins.webui.helpers import PAGE_SIZE, FindForm

from .support import Ui, job, rows


async def test_find_retries_field_by_field(ui: Ui) -> None:
    a = await ui.retry("Mailer", args=["ada@example.com"], errtype="SMTPError", message="timeout")
    b = await ui.retry("Mailer", args=["bob@example.com"], errtype="IOError", message="disk")
    c = await ui.retry("Billing", args=[12], errtype="KeyError", message="no card")
    assert set(rows(await ui.page("/retries?jobtype=Mailer"))) == {a.jid, b.jid}
    assert rows(await ui.page(f"/retries?jid={c.jid}")) == [c.jid]
    assert rows(await ui.page("/retries?text=bob%40")) == [b.jid]
    assert rows(await ui.page("/retries?error=smtp")) == [a.jid]
    assert rows(await ui.page("/retries?jobtype=Mailer&error=disk")) == [b.jid]
    assert "No job matches." in await ui.page("/retries?jobtype=Nothing")


async def test_the_find_form_keeps_its_values_and_opens(ui: Ui) -> None:
    html = await ui.page("/retries?jobtype=Mailer&text=ada")
    assert '<details class="find" open>' in html
    assert 'name="jobtype" value="Mailer"' in html
    assert 'name="text" value="ada"' in html


async def test_retry_all_matches_leaves_the_rest(ui: Ui) -> None:
    for _ in range(3):
        await ui.retry("Mailer")
    other = await ui.retry("Billing")
    response = await ui.post("/retries", {"action": "retry", "key": "all", "jobtype": "Mailer"})
    assert response.status_code == 302
    assert response.headers["location"] == "/retries?jobtype=Mailer"
    [left] = await ui.store.set_page(SortedSet.RETRIES, 0, 10)
    assert left.job.jid == other.jid
    assert await ui.store.queue_size("work") == 3


async def test_kill_all_matches_in_chunks(ui: Ui) -> None:
    total = MUTATE_CHUNK * 2 + 7
    for n in range(total):
        await ui.store.set_add(SortedSet.RETRIES, 1000.0 + n, job("Bulk", args=[n]))
    await ui.store.set_add(SortedSet.RETRIES, 5.0, job("Keep"))
    await ui.post("/retries", {"action": "kill", "key": "all", "jobtype": "Bulk"})
    assert await ui.store.set_size(SortedSet.DEAD) == total
    assert await ui.store.set_size(SortedSet.RETRIES) == 1


async def test_delete_all_matches_in_the_morgue_and_scheduled(ui: Ui) -> None:
    await ui.dead("A")
    await ui.dead("B")
    await ui.post("/morgue", {"action": "delete", "key": "all", "jobtype": "A"})
    assert [e.job.jobtype for e in await ui.store.set_page(SortedSet.DEAD, 0, 10)] == ["B"]
    await ui.scheduled("Report")
    await ui.scheduled("Other")
    await ui.post("/scheduled", {"action": "add_to_queue", "key": "all", "jobtype": "Report"})
    assert [j.jobtype for j in await ui.store.queue_page("default", 0, 10)] == ["Report"]


async def test_matches_come_25_a_page_with_a_next_link(ui: Ui) -> None:
    for n in range(PAGE_SIZE + 5):
        await ui.store.set_add(SortedSet.RETRIES, 1000.0 + n, job("Hit", args=[n]))
        await ui.store.set_add(SortedSet.RETRIES, 1000.5 + n, job("Miss"))
    first = await ui.page("/retries?jobtype=Hit")
    assert len(rows(first)) == PAGE_SIZE
    more = re.search(r'<a href="([^"]+)" rel="next">Next matches', first)
    assert more is not None
    second = await ui.page(more.group(1).replace("&amp;", "&"))
    assert len(rows(second)) == 5
    assert not set(rows(first)) & set(rows(second))
    assert "Next matches" not in second


async def test_a_page_of_matches_splitting_a_chunk_resumes_inside_it(ui: Ui) -> None:
    """More than 25 matches within one scanned chunk: the next page starts after the 25th."""
    jids = []
    for n in range(60):
        item = job("Hit", args=[n])
        jids.append(item.jid)
        await ui.store.set_add(SortedSet.RETRIES, 1000.0 + n, item)
    seen: list[str] = []
    path = "/retries?jobtype=Hit"
    while path:
        html = await ui.page(path)
        seen += rows(html)
        more = re.search(r'<a href="([^"]+)" rel="next">Next matches', html)
        path = more.group(1).replace("&amp;", "&") if more else ""
    assert seen == jids


async def test_find_in_a_queue_and_delete_all_matches(ui: Ui) -> None:
    hits = [job("Hit", args=[n]) for n in range(3)]
    await ui.push(*hits, job("Miss"), job("Miss", args=["hit"]))
    html = await ui.page("/queues/default?jobtype=Hit")
    assert set(rows(html)) == {h.jid for h in hits}
    assert rows(await ui.page("/queues/default?text=hit")) == [
        j.jid for j in await ui.store.queue_page("default", 0, 10) if "hit" in str(j.args)
    ]
    response = await ui.post("/queues/default", {"bkey": "all", "jobtype": "Hit"})
    assert response.headers["location"] == "/queues/default?jobtype=Hit"
    assert [j.jobtype for j in await ui.store.queue_page("default", 0, 10)] == ["Miss", "Miss"]


async def test_queue_matches_page_by_position(ui: Ui) -> None:
    await ui.push(*(job("Hit", args=[n]) for n in range(PAGE_SIZE + 2)))
    first = await ui.page("/queues/default?jobtype=Hit")
    assert len(rows(first)) == PAGE_SIZE
    assert f"offset={PAGE_SIZE}" in first
    second = await ui.page(f"/queues/default?jobtype=Hit&offset={PAGE_SIZE}")
    assert len(rows(second)) == 2


async def test_queue_find_scans_past_the_first_chunk(ui: Ui) -> None:
    await ui.push(job("Hit"))
    await ui.push(*(job("Miss") for _ in range(MUTATE_CHUNK + 10)))
    assert len(rows(await ui.page("/queues/default?jobtype=Hit"))) == 1
    await ui.post("/queues/default", {"bkey": "all", "jobtype": "Hit"})
    assert await ui.store.queue_size("default") == MUTATE_CHUNK + 10


async def test_a_scan_stops_at_its_budget_and_offers_to_go_on(
    ui: Ui, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(find, "SCAN_BUDGET", MUTATE_CHUNK)
    for n in range(MUTATE_CHUNK * 2):
        await ui.store.set_add(SortedSet.RETRIES, float(n), job("Miss"))
    await ui.store.set_add(SortedSet.RETRIES, 1e9, job("Hit"))
    html = await ui.page("/retries?jobtype=Hit")
    assert rows(html) == []
    assert "Next matches" in html


@pytest.mark.parametrize("bad", ["x", "-1"])
async def test_bad_offset_or_skip_is_400(ui: Ui, bad: str) -> None:
    await ui.push(job())
    assert (await ui.client.get(f"/queues/default?jobtype=A&offset={bad}")).status_code == 400
    assert (await ui.client.get(f"/retries?jobtype=A&skip={bad}")).status_code == 400


async def test_queue_filter_agrees_with_the_stores_filter(ui: Ui) -> None:
    """The UI filters queue pages itself; it must match what set_scan matches."""
    samples = [
        job("Mailer", args=["ada"]),
        job("Mailer", args=[{"to": "bob"}]),
        job("Billing", args=[1, "ada"]),
    ]
    await ui.retry("Flaky", errtype="SMTPError", message="Timeout")
    filters = [
        FindForm(jobtype="Mailer"),
        FindForm(text="ada"),
        FindForm(text='"to"'),
        FindForm(jid=samples[1].jid),
        FindForm(error="timeout"),
        FindForm(jobtype="Mailer", text="bob"),
    ]
    for n, sample in enumerate(samples):
        await ui.store.set_add(SortedSet.SCHEDULED, 1e9 + n, sample)
    retried = [e.job for e in await ui.store.set_page(SortedSet.RETRIES, 0, 10)]
    for form in filters:
        where = form.job_filter()
        for which, jobs in ((SortedSet.SCHEDULED, samples), (SortedSet.RETRIES, retried)):
            found, _ = await ui.store.set_scan(which, where, "", 100)
            expected = [e.job.jid for e in found]
            match = where.matcher()
            assert [j.jid for j in jobs if match(j, None)] == expected, form


def test_find_form_reads_and_builds_a_filter() -> None:
    form = FindForm.read({"jobtype": " A ", "jid": "", "text": "t", "error": None})
    assert form == FindForm(jobtype="A", text="t")
    assert form.active
    assert form.query() == {"jobtype": "A", "text": "t"}
    assert form.job_filter() == JobFilter(jobtype="A", text="t")
    assert FindForm.read({}).job_filter().matches_all
