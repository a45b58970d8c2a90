"""Scale: with 100,000 jobs in Retries, page 1 and page 1,000 cost about the same, and the
dashboard never reads a set's members (docs/webui.md, "Scale")."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

import attrs
import pytest

from faktory_core.model import Failure, SortedSet
from faktory_core.plugins.webui.helpers import PAGE_SIZE

from .support import Ui, job, rows

SIZE = 100_000
LAST_PAGE = SIZE // PAGE_SIZE
#: Calls that read set or queue members; the dashboard and the layout must make none.
MEMBER_READS = ("set_page", "set_scan", "set_get", "queue_page", "reservations", "workers")


async def fill_retries(ui: Ui, count: int) -> None:
    failure = Failure(retry_count=3, remaining=22, errtype="IOError", message="disk full")
    template = job("Bulk", args=["x" * 40])
    for n in range(count):
        item = attrs.evolve(template, jid=f"bulk{n:012d}", failure=failure)
        await ui.store.set_add(SortedSet.RETRIES, 2e9 + n, item)


async def timed_page(ui: Ui, path: str, runs: int = 7) -> float:
    await ui.page(path)  # warm up: templates compiled, caches filled
    durations = []
    for _ in range(runs):
        started = time.perf_counter()
        html = await ui.page(path)
        durations.append(time.perf_counter() - started)
        assert len(rows(html)) == PAGE_SIZE
    return statistics.median(durations)


@pytest.mark.slow
async def test_page_1000_costs_about_what_page_1_costs(ui: Ui) -> None:
    await fill_retries(ui, SIZE)
    cost = {page: await timed_page(ui, f"/retries?page={page}") for page in (1, 1000, LAST_PAGE)}
    print(
        f"\n/retries with {SIZE:,} entries, median of 7: "
        + ", ".join(f"page {page:,} {seconds * 1000:.1f} ms" for page, seconds in cost.items())
    )
    assert cost[1000] < cost[1] * 2 + 0.01
    assert cost[LAST_PAGE] < cost[1] * 2 + 0.01


async def test_the_dashboard_never_reads_set_members(
    ui: Ui, monkeypatch: pytest.MonkeyPatch
) -> None:
    await fill_retries(ui, 300)
    await ui.push(job())
    calls: list[str] = []
    for name in MEMBER_READS:
        original: Callable[..., Any] = getattr(ui.store, name)

        async def spy(_self: Any, *args: Any, _name: str = name, _original: Any = original,
                      **kwargs: Any) -> Any:  # fmt: skip
            calls.append(_name)
            return await _original(*args, **kwargs)

        monkeypatch.setattr(type(ui.store), name, spy)
    for path in ("/", "/?days=180", "/stats", "/queues"):
        await ui.page(path)
    assert calls == []
    await ui.page("/retries")  # the spies do see a page that lists members
    assert calls == ["set_page"]
