"""Scale: with 100,000 jobs in Retries a deep page reads only its own entries, and the
dashboard never reads a set's members (docs/webui.md, "Scale")."""

from __future__ import annotations

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


@pytest.mark.slow
async def test_a_deep_page_reads_one_page_by_index(ui: Ui, monkeypatch: pytest.MonkeyPatch) -> None:
    """Page 4,000 of 100,000 entries asks the store for exactly its 25 entries, by offset:
    nothing walks the set. (Timings are measured by benchmarks/webui_pages.py, not here.)"""
    await fill_retries(ui, SIZE)
    asked: list[tuple[Any, ...]] = []
    original = type(ui.store).set_page

    async def spy(self: Any, which: SortedSet, offset: int, count: int, **kw: Any) -> Any:
        asked.append((which, offset, count))
        return await original(self, which, offset, count, **kw)

    monkeypatch.setattr(type(ui.store), "set_page", spy)
    for page in (1, 1000, LAST_PAGE):
        html = await ui.page(f"/retries?page={page}")
        assert len(rows(html)) == PAGE_SIZE
    assert asked == [
        (SortedSet.RETRIES, (page - 1) * PAGE_SIZE, PAGE_SIZE) for page in (1, 1000, LAST_PAGE)
    ]


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
