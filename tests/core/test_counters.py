from __future__ import annotations

from faktory_core.counters import Counters


def test_counters_add_by_name_and_labels_in_any_order() -> None:
    counters = Counters()
    counters.add("expired", queue="a", jobtype="J")
    counters.add("expired", 2, jobtype="J", queue="a")
    counters.add("expired", queue="b", jobtype="J")

    assert counters.get("expired", queue="a", jobtype="J") == 3
    assert counters.get("expired", queue="c") == 0
    assert sorted(counters.items()) == [
        ("expired", (("jobtype", "J"), ("queue", "a")), 3),
        ("expired", (("jobtype", "J"), ("queue", "b")), 1),
    ]
