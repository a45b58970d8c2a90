"""The Metrics tab over real HTTP on both stores: per job type numbers, periods, sorting, the
per-type detail, the JSON endpoint, and minute buckets that age out after 24 hours."""

from __future__ import annotations

import json
import re
from collections.abc import Callable

import pytest

from ..redis import either_store  # noqa: TID252
from ..redis.either_store import Running  # noqa: TID252
from .support import Metrics, get, start_metrics

module_redis = either_store.module_redis
serve = either_store.serve


@pytest.fixture
def metrics(serve: Callable[..., Running]) -> Metrics:
    found = start_metrics(serve)
    conn = found.conn()
    for seconds in (1.0, 3.0):  # Slow: two runs, 4 s in all
        jid = found.push(conn, "Slow")
        found.fetch(conn)
        found.advance(seconds)
        found.ack(conn, jid)
    for _ in range(3):  # Quick: three runs, one failed, no time
        jid = found.push(conn, "Quick")
        found.fetch(conn)
        found.ack(conn, jid)
    jid = found.push(conn, "Quick")
    found.fetch(conn)
    found.fail(conn, jid)
    conn.close()
    return found


def page(metrics: Metrics, query: str = "") -> str:
    status, content_type, body = get(metrics.url("/metrics/jobs" + query))
    assert status == 200, body
    assert content_type.startswith("text/html")
    return body


def rows(html: str) -> list[str]:
    return re.findall(r'<tr class="jobtype" data-jobtype="([^"]*)"', html)


def test_the_tab_and_its_rows(metrics: Metrics) -> None:
    html = page(metrics)
    assert '<a href="/metrics/jobs" class="active" aria-current="page">Metrics</a>' in html
    assert rows(html) == ["Slow", "Quick"]  # by total time
    slow = html.split('data-jobtype="Slow"')[1].split("</tr>")[0]
    assert [cell.strip() for cell in re.findall(r"<td>([^<]*)</td>", slow)] == [
        "2", "0", "4.000 s", "2.000 s",
    ]  # fmt: skip
    quick = html.split('data-jobtype="Quick"')[1].split("</tr>")[0]
    assert re.findall(r"<td>([^<]*)</td>", quick)[:2] == ["4", "1"]
    assert html.count("<rect") >= 2  # a bar in each chart


def test_sorting(metrics: Metrics) -> None:
    assert rows(page(metrics, "?sort=processed")) == ["Quick", "Slow"]
    assert rows(page(metrics, "?sort=jobtype")) == ["Quick", "Slow"]
    assert rows(page(metrics, "?sort=mean")) == ["Slow", "Quick"]
    assert rows(page(metrics, "?sort=bogus&period=bogus")) == ["Slow", "Quick"]


def test_the_detail_of_one_jobtype(metrics: Metrics) -> None:
    html = page(metrics, "?jobtype=Slow&period=8h")
    assert "<h1>Metrics: Slow</h1>" in html
    buckets = dict(re.findall(r'<tr class="bucket"><td>([^<]*)</td><td>([^<]*)</td>', html))
    assert buckets["≤ 1 s"] == "1"
    assert buckets["≤ 5 s"] == "1"
    assert buckets["≤ 2.5 s"] == "0"


def test_the_json_endpoint(metrics: Metrics) -> None:
    status, content_type, body = get(metrics.url("/metrics/jobs.json?period=24h&jobtype=Slow"))
    assert status == 200
    assert content_type.startswith("application/json")
    data = json.loads(body)
    assert data["period"] == "24h"
    assert len(data["series"]) == 24 * 60
    assert sum(point["processed"] for point in data["series"]) == 2
    assert sum(point["seconds"] for point in data["series"]) == pytest.approx(4)
    assert {row["jobtype"]: row["processed"] for row in data["jobtypes"]} == {"Slow": 2, "Quick": 4}
    assert sum(row["count"] for row in data["histogram"]) == 2


def test_periods_and_expiry(metrics: Metrics) -> None:
    metrics.advance(2 * 3600)
    assert rows(page(metrics)) == []  # past the hour
    assert rows(page(metrics, "?period=8h")) == ["Slow", "Quick"]
    metrics.advance(23 * 3600)
    assert rows(page(metrics, "?period=24h")) == []
    assert "No job finished in this period." in page(metrics, "?period=24h")


def test_jobtype_markup_is_escaped(serve: Callable[..., Running]) -> None:
    metrics = start_metrics(serve)
    conn = metrics.conn()
    jid = metrics.push(conn, "<script>alert(1)</script>")
    metrics.fetch(conn)
    metrics.ack(conn, jid)
    html = page(metrics)
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;" in html
    conn.close()
