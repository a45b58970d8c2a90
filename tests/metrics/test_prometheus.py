"""``GET /metrics`` over real HTTP on both stores: parsed by Prometheus's own text parser, values
against INFO, execution times under a fake clock, the password, and bounded label values."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from faktory_core.plugins.metrics.recorder import OVERFLOW
from faktory_core.protocol import Bulk

from ..redis import either_store  # noqa: TID252
from ..redis.either_store import Running  # noqa: TID252
from .support import Metrics, get, start_metrics

module_redis = either_store.module_redis
serve = either_store.serve

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(metrics: Metrics, password: str | None = None) -> Samples:
    status, content_type, body = get(metrics.url("/metrics"), password)
    assert status == 200, body
    assert content_type.startswith("text/plain; version=0.0.4")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(body)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, tuple(sorted(labels.items())))]


@pytest.fixture
def metrics(serve: Callable[..., Running]) -> Metrics:
    return start_metrics(serve)


def test_job_counters_by_queue_and_jobtype(metrics: Metrics) -> None:
    conn = metrics.conn()
    for _ in range(3):
        metrics.push(conn, "Mail", "mail")
    metrics.push(conn, "Report")
    jid = metrics.fetch(conn, "mail")["jid"]
    metrics.ack(conn, jid)
    failing = metrics.fetch(conn, "mail")["jid"]
    metrics.fail(conn, failing)
    samples = scrape(metrics)
    assert value(samples, "faktory_jobs_pushed_total", queue="mail", jobtype="Mail") == 3
    assert value(samples, "faktory_jobs_pushed_total", queue="default", jobtype="Report") == 1
    assert value(samples, "faktory_jobs_fetched_total", queue="mail", jobtype="Mail") == 2
    assert value(samples, "faktory_jobs_acked_total", queue="mail", jobtype="Mail") == 1
    assert value(samples, "faktory_jobs_failed_total", queue="mail", jobtype="Mail") == 1
    conn.close()


def test_pushb_is_counted(metrics: Metrics) -> None:
    conn = metrics.conn()
    jobs = [{"jid": f"bulk-job-{i:06}", "jobtype": "Bulk", "args": []} for i in range(5)]
    assert conn.json_command("PUSHB", jobs) == Bulk(b"{}")
    samples = scrape(metrics)
    assert value(samples, "faktory_jobs_pushed_total", queue="default", jobtype="Bulk") == 5
    conn.close()


def test_values_match_info(metrics: Metrics) -> None:
    conn = metrics.conn()
    for queue in ("a", "a", "b"):
        metrics.push(conn, "Thing", queue)
    metrics.ack(conn, metrics.fetch(conn, "b")["jid"])
    metrics.fail(conn, metrics.fetch(conn, "a")["jid"])
    info = metrics.info()["faktory"]
    samples = scrape(metrics)
    assert value(samples, "faktory_processed_total") == info["total_processed"]
    assert value(samples, "faktory_failures_total") == info["total_failures"]
    for queue, size in info["queues"].items():
        assert value(samples, "faktory_queue_size", queue=queue) == size
    for name, size in info["sets"].items():
        assert value(samples, "faktory_set_size", set=name) == size
    assert value(samples, "faktory_connections", state="identified") >= 1
    assert value(samples, "faktory_workers", state="running") >= 1
    assert ("process_resident_memory_bytes", ()) in samples
    assert ("process_cpu_seconds_total", ()) in samples
    assert value(samples, "faktory_store_roundtrip_seconds") >= 0
    conn.close()


def test_queue_latency_is_the_oldest_jobs_age(metrics: Metrics) -> None:
    conn = metrics.conn()
    metrics.push(conn, "Old", "slow")
    metrics.advance(42)
    samples = scrape(metrics)
    assert value(samples, "faktory_queue_latency_seconds", queue="slow") == pytest.approx(42, abs=1)
    conn.close()


def test_execution_time_lands_in_its_bucket(metrics: Metrics) -> None:
    """Fetched at t, ACKed at t+3 s: in the 5 s bucket, not the 2.5 s one; FAILs and expired
    reservations are timed under their own outcome."""
    conn = metrics.conn()
    for _ in range(3):
        metrics.push(conn, "Timed")
    metrics.ack(conn, metrics.fetch(conn)["jid"])  # 0 s
    jid = metrics.fetch(conn)["jid"]
    metrics.advance(3)
    metrics.ack(conn, jid)
    jid = metrics.fetch(conn)["jid"]
    metrics.advance(0.2)
    metrics.fail(conn, jid)
    samples = scrape(metrics)
    name = "faktory_job_execution_seconds"
    ok = {"jobtype": "Timed", "outcome": "success"}
    assert value(samples, f"{name}_bucket", le="2.5", **ok) == 1
    assert value(samples, f"{name}_bucket", le="5.0", **ok) == 2
    assert value(samples, f"{name}_bucket", le="+Inf", **ok) == 2
    assert value(samples, f"{name}_count", **ok) == 2
    assert value(samples, f"{name}_sum", **ok) == pytest.approx(3)
    failed = {"jobtype": "Timed", "outcome": "failure"}
    assert value(samples, f"{name}_bucket", le="0.1", **failed) == 0
    assert value(samples, f"{name}_bucket", le="0.25", **failed) == 1
    conn.close()


def test_a_reaped_reservation_is_timed_as_expired(metrics: Metrics) -> None:
    conn = metrics.conn()
    metrics.push(conn, "Slow")
    metrics.fetch(conn)
    metrics.advance(1900)  # past the 1800 s reservation, then the Busy loop reaps it
    metrics.running.wait_for(
        lambda: metrics.info()["faktory"]["sets"]["working"] == 0, "the reaper"
    )
    samples = scrape(metrics)
    expired = {"jobtype": "Slow", "outcome": "expired"}
    assert value(samples, "faktory_job_execution_seconds_bucket", le="1800.0", **expired) == 0
    assert value(samples, "faktory_job_execution_seconds_bucket", le="+Inf", **expired) == 1
    assert value(samples, "faktory_jobs_failed_total", queue="default", jobtype="Slow") == 1
    conn.close()


def test_plugin_counters_are_exported(metrics: Metrics) -> None:
    server = metrics.running.thread.server
    assert server is not None

    async def count() -> None:
        server.counters.add("expired", queue="default", jobtype="Mail")
        server.counters.add("unique_denied", 2, queue="default", jobtype="Mail")
        server.counters.add("batch_callbacks", kind="complete")
        server.counters.add("processed")  # a core family's name: left out, not duplicated

    metrics.running.call(count)
    samples = scrape(metrics)
    labels = {"queue": "default", "jobtype": "Mail"}
    assert value(samples, "faktory_expired_total", **labels) == 1
    assert value(samples, "faktory_unique_denied_total", **labels) == 2
    assert value(samples, "faktory_batch_callbacks_total", kind="complete") == 1


def test_absurd_jobtypes_are_bounded(serve: Callable[..., Running]) -> None:
    metrics = start_metrics(serve, toml={"metrics": {"max_jobtypes": 2}})
    conn = metrics.conn()
    for jobtype in ("A", "B", "C", "x" * 1_000_000, "bell\x07", "D"):
        metrics.push(conn, jobtype)
    samples = scrape(metrics)
    pushed = {
        dict(labels)["jobtype"]: count
        for (name, labels), count in samples.items()
        if name == "faktory_jobs_pushed_total"
    }
    assert pushed == {"A": 1, "B": 1, OVERFLOW: 4}
    assert value(samples, "faktory_label_values", label="jobtype") == 2
    conn.close()


def test_password_protects_metrics(serve: Callable[..., Running]) -> None:
    metrics = start_metrics(serve, web_password="s3cret")
    status, _, _ = get(metrics.url("/metrics"))
    assert status == 401
    status, _, _ = get(metrics.url("/metrics"), "wrong")
    assert status == 401
    assert ("faktory_processed_total", ()) in scrape(metrics, "s3cret")


def test_open_metrics_need_no_password(serve: Callable[..., Running]) -> None:
    metrics = start_metrics(serve, web_password="s3cret", toml={"metrics": {"open": True}})
    assert ("faktory_processed_total", ()) in scrape(metrics)
    status, _, _ = get(metrics.url("/metrics/jobs"))
    assert status == 401  # the rest of the UI keeps its password


def test_info_stays_faktory(metrics: Metrics) -> None:
    info: dict[str, Any] = metrics.info()
    assert info["server"]["description"] == "Faktory"
    assert set(info) == {"now", "server_utc_time", "faktory", "server"}
    assert json.dumps(info)
