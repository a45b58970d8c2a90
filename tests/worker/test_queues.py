"""Queue order: strict priority, or a weighted shuffle on every FETCH."""

from __future__ import annotations

import random
from collections import Counter
from typing import Any

import faktory_core_client_test_support as support  # type: ignore[import-not-found]
import pytest

from faktory_core.client import Job
from faktory_core.worker import Strict, Weighted
from faktory_core.worker.queues import queue_order


def test_a_list_is_strict_order() -> None:
    order = queue_order(["critical", "default", "low"])
    assert order == Strict(("critical", "default", "low"))
    assert [list(order.order()) for _ in range(3)] == [["critical", "default", "low"]] * 3
    assert queue_order("solo") == Strict(("solo",))


def test_weights_decide_how_often_a_queue_comes_first() -> None:
    order = queue_order({"critical": 6, "default": 3, "low": 1})
    assert isinstance(order, Weighted)
    seeded = Weighted(order.weights, random=random.Random(1234).random)
    draws = [list(seeded.order()) for _ in range(20_000)]
    assert all(sorted(draw) == ["critical", "default", "low"] for draw in draws)
    first = Counter(draw[0] for draw in draws)
    shares = {name: count / len(draws) for name, count in first.items()}
    assert shares["critical"] == pytest.approx(0.6, abs=0.02)
    assert shares["default"] == pytest.approx(0.3, abs=0.02)
    assert shares["low"] == pytest.approx(0.1, abs=0.02)


@pytest.mark.parametrize(
    "queues", [[], ["bad name"], {"ok": 1, "bad/name": 1}, {"zero": 0}, {"negative": -1}]
)
def test_invalid_queues(queues: Any) -> None:
    with pytest.raises(ValueError, match="queue"):
        queue_order(queues)


@support.every_store
async def test_strict_order_serves_a_queue_only_when_the_earlier_ones_are_empty(
    server: Any,
) -> None:
    order: list[str] = []
    worker = support.make_worker(server.url, concurrency=1, queues=["high", "low"])
    worker.register("Record", order.append)
    await support.push(server.url, *(Job("Record", ["low"], queue="low") for _ in range(3)))
    await support.push(server.url, *(Job("Record", ["high"], queue="high") for _ in range(3)))
    async with support.running(worker):
        await support.async_wait_until(lambda: len(order) == 6)
    assert order == ["high"] * 3 + ["low"] * 3


@support.every_store
async def test_weighted_queues_are_all_served(server: Any) -> None:
    seen: list[str] = []
    worker = support.make_worker(server.url, queues={"a": 3, "b": 1}, concurrency=2)
    worker.register("Record", seen.append)
    jobs = [Job("Record", [name], queue=name) for name in ("a", "b") for _ in range(5)]
    await support.push(server.url, *jobs)
    async with support.running(worker):
        await support.async_wait_until(lambda: len(seen) == 10)
    assert Counter(seen) == {"a": 5, "b": 5}
