"""Faktory's manager tests over real TCP: manager_test, retry_test, working_test and
scheduler_test (reference §14). Background tasks run on a FakeClock the test advances."""

from __future__ import annotations

import threading

import pytest

from faktory_core.model import SortedSet
from faktory_core.timefmt import format_ts, parse_ts
from tests.integration.conftest import NULL, OK, err, make_job, wait_until

DAY = 86400


def sets(conn) -> dict[str, int]:
    return conn.info()["faktory"]["sets"]


def totals(conn) -> tuple[int, int]:
    faktory = conn.info()["faktory"]
    return faktory["total_processed"], faktory["total_failures"]


# -- manager_test ------------------------------------------------------------------------------


def test_push_sets_enqueued_at_and_enqueues(server, connect):
    conn = connect(server)
    job = make_job(args=[1, "two"])
    conn.push(job)
    assert conn.info()["faktory"]["queues"] == {"default": 1}
    fetched = conn.fetch("default")
    assert fetched["jid"] == job["jid"]
    assert fetched["enqueued_at"] == format_ts(server.now())
    assert fetched["created_at"] == format_ts(server.now())
    assert fetched["queue"] == "default"
    assert fetched["retry"] == 25


@pytest.mark.parametrize("jid", ["", "id", "shortid"])
def test_push_rejects_unreasonable_jids(server, connect, jid):
    conn = connect(server)
    reply = conn.json_command("PUSH", {"jid": jid, "jobtype": "SomeJob", "args": []})
    assert reply == err("jobs must have a reasonable jid parameter")
    assert conn.info()["faktory"]["total_enqueued"] == 0


def test_push_rejects_missing_jid_jobtype_and_args(server, connect):
    conn = connect(server)
    assert conn.json_command("PUSH", {"jobtype": "SomeJob", "args": []}) == err(
        "jobs must have a reasonable jid parameter"
    )
    assert conn.json_command("PUSH", make_job(jobtype="")) == err(
        "jobs must have a jobtype parameter"
    )
    no_args = make_job()
    del no_args["args"]
    assert conn.json_command("PUSH", no_args) == err("jobs must have an args parameter")
    assert conn.json_command("PUSH", {**make_job(), "args": None}) == err(
        "jobs must have an args parameter"
    )
    assert conn.json_command("PUSH", make_job(reserve_for=86401)) == err(
        "jobs cannot be reserved for more than one day"
    )
    assert conn.info()["faktory"]["total_enqueued"] == 0


def test_future_at_is_scheduled_past_at_is_enqueued(server, connect):
    conn = connect(server)
    future = make_job(at=format_ts(server.now() + 3600))
    conn.push(future)
    info = conn.info()["faktory"]
    assert info["sets"]["scheduled"] == 1
    assert info["queues"] == {}
    scheduled = server.call(server.store.set_page, SortedSet.SCHEDULED, 0, 10)
    assert [e.job.jid for e in scheduled] == [future["jid"]]
    assert scheduled[0].job.enqueued_at == ""
    assert scheduled[0].score == server.now() + 3600

    past = make_job(at=format_ts(server.now() - 3600))
    conn.push(past)
    info = conn.info()["faktory"]
    assert info["sets"]["scheduled"] == 1
    assert info["queues"] == {"default": 1}
    fetched = conn.fetch("default")
    assert fetched["jid"] == past["jid"]
    assert fetched["at"] == past["at"]
    assert fetched["enqueued_at"] == format_ts(server.now())


@pytest.mark.parametrize(
    "at", ["2025-01-02 03:04:05Z", "2025-01-02T03:04:05", "tomorrow", "2025-01-02t03:04:05Z"]
)
def test_invalid_at(server, connect, at):
    conn = connect(server)
    reply = conn.json_command("PUSH", make_job(at=at))
    assert reply.code == "ERR"
    assert reply.message.startswith(f"invalid timestamp for 'at': \"{at}\": ")
    assert conn.info()["faktory"]["sets"]["scheduled"] == 0


def test_fetch_needs_a_queue(server, connect):
    conn = connect(server)
    assert conn.command("FETCH") == err("must call fetch with at least one queue")


def test_empty_fetch_returns_null(rt_server, connect):
    conn = connect(rt_server)
    assert conn.command("FETCH", "default") == NULL
    assert conn.call_raw(b"FETCH default other\r\n") == b"$-1\r\n"


def test_fetch_skips_paused_queue_and_resumes(rt_server, connect):
    conn = connect(rt_server)
    paused_job, other_job = make_job(queue="pq"), make_job(queue="other")
    conn.push(paused_job)
    assert conn.command("QUEUE", "PAUSE", "pq") == OK
    assert conn.fetch("pq") is None
    conn.push(other_job)
    assert conn.fetch("pq", "other")["jid"] == other_job["jid"]
    assert conn.info()["faktory"]["queues"]["pq"] == 1  # still there, just skipped
    assert conn.command("QUEUE", "RESUME", "pq") == OK
    assert conn.fetch("pq")["jid"] == paused_job["jid"]


def test_multi_queue_fetch_follows_argument_order(server, connect):
    conn = connect(server)
    c1, b1, b2, a1 = (make_job(queue=q) for q in ("c", "b", "b", "a"))
    for job in (c1, b1, b2, a1):
        conn.push(job)
    order = [conn.fetch("a", "b", "c")["jid"] for _ in range(4)]
    assert order == [a1["jid"], b1["jid"], b2["jid"], c1["jid"]]
    order_check = [make_job(queue=q) for q in ("a", "c")]
    for job in order_check:
        conn.push(job)
    assert conn.fetch("c", "a")["jid"] == order_check[1]["jid"]


def test_one_job_goes_to_one_of_two_blocked_fetches(make_server, connect):
    from faktory_core.config import Timings

    srv = make_server(real_clock=True, timings=Timings(handshake=0.3, fetch_block=0.5))
    consumers = [connect(srv), connect(srv)]
    producer = connect(srv)
    results: list[object] = []
    threads = [
        threading.Thread(target=lambda c=c: results.append(c.fetch("default"))) for c in consumers
    ]
    for thread in threads:
        thread.start()
    try:
        wait_until(lambda: srv.busy_connections() == 2, what="both FETCHes to block")
        job = make_job()
        producer.push(job)
    finally:
        for thread in threads:
            thread.join(timeout=10)
    assert not any(thread.is_alive() for thread in threads)
    assert sorted(r is None for r in results) == [False, True]
    assert [r["jid"] for r in results if r is not None] == [job["jid"]]


def test_fetch_blocks_until_another_connection_pushes(make_server, connect):
    from faktory_core.config import Timings

    srv = make_server(real_clock=True, timings=Timings(handshake=0.3, fetch_block=5.0))
    consumer, producer = connect(srv), connect(srv)
    result: list[object] = []
    fetcher = threading.Thread(target=lambda: result.append(consumer.fetch("default", "low")))
    fetcher.start()
    try:
        wait_until(lambda: srv.busy_connections() == 1, what="FETCH to block")
        job = make_job(queue="low")
        producer.push(job)
    finally:
        fetcher.join(timeout=10)
    assert not fetcher.is_alive()
    assert len(result) == 1
    assert result[0]["jid"] == job["jid"]
    assert producer.info()["faktory"]["sets"]["working"] == 1


# -- retry_test --------------------------------------------------------------------------------


def test_fail_with_retry_1_retries_once_then_dies(server, connect):
    conn = connect(server)
    job = make_job(retry=1)
    conn.push(job)
    assert conn.fetch("default")["jid"] == job["jid"]
    conn.fail(job["jid"])
    assert totals(conn) == (1, 1)
    assert sets(conn) == {"dead": 0, "retries": 1, "scheduled": 0, "working": 0}
    (entry,) = server.call(server.store.set_page, SortedSet.RETRIES, 0, 10)
    delay = entry.score - server.now()
    assert 15 <= delay <= 44
    assert entry.job.failure.retry_count == 0
    assert entry.job.failure.remaining == 1

    # Not due yet: the Retries task leaves it alone.
    server.advance(14, step=1)
    assert sets(conn)["retries"] == 1
    server.advance(31, step=1)
    wait_until(lambda: conn.info()["faktory"]["queues"].get("default") == 1, what="retry")
    retried = conn.fetch("default")
    assert retried["jid"] == job["jid"]
    assert retried["failure"]["retry_count"] == 0
    assert retried["failure"]["errtype"] == "RuntimeError"
    assert retried["failure"]["message"] == "boom"
    assert entry.score <= parse_ts(retried["enqueued_at"]) <= entry.score + 1  # 1 s ticks

    conn.fail(job["jid"], errtype="Again", message="still broken")
    assert totals(conn) == (2, 2)
    assert sets(conn) == {"dead": 1, "retries": 0, "scheduled": 0, "working": 0}
    (dead,) = server.call(server.store.set_page, SortedSet.DEAD, 0, 10)
    assert dead.job.failure.retry_count == 1
    assert dead.job.failure.errtype == "Again"
    assert dead.score == server.now() + 180 * DAY


def test_fail_with_retry_0_goes_nowhere(server, connect):
    conn = connect(server)
    job = make_job(retry=0)
    conn.push(job)
    conn.fetch("default")
    conn.fail(job["jid"])
    assert totals(conn) == (1, 1)
    info = conn.info()["faktory"]
    assert info["sets"] == {"dead": 0, "retries": 0, "scheduled": 0, "working": 0}
    assert info["total_enqueued"] == 0


def test_fail_with_negative_retry_dies_at_once(server, connect):
    conn = connect(server)
    job = make_job(retry=-1)
    conn.push(job)
    conn.fetch("default")
    conn.fail(job["jid"])
    assert sets(conn) == {"dead": 1, "retries": 0, "scheduled": 0, "working": 0}


def test_fail_payload_is_cleansed(server, connect):
    conn = connect(server)
    job = make_job()
    conn.push(job)
    conn.fetch("default")
    trace = [f"line {n}" for n in range(60)]
    conn.ok(
        "FAIL",
        {"jid": job["jid"], "errtype": "  E" * 60, "message": "m" * 2000, "backtrace": trace},
    )
    (entry,) = server.call(server.store.set_page, SortedSet.RETRIES, 0, 10)
    failure = entry.job.failure
    assert failure.errtype == ("  E" * 60).strip()[:100]
    assert failure.message == "m" * 1000
    assert list(failure.backtrace) == trace[:50]

    blank = make_job()
    conn.push(blank)
    conn.fetch("default")
    conn.ok("FAIL", {"jid": blank["jid"], "errtype": "   ", "backtrace": None})
    entries = server.call(server.store.set_page, SortedSet.RETRIES, 0, 10)
    (failure,) = [e.job.failure for e in entries if e.job.jid == blank["jid"]]
    assert (failure.errtype, failure.message, failure.backtrace) == ("unknown", "unknown", ())


def test_fail_errors(server, connect):
    conn = connect(server)
    assert conn.json_command("FAIL", {}) == err("missing JID")
    assert conn.json_command("FAIL", {"jid": "", "errtype": "x"}) == err("missing JID")
    assert conn.json_command("FAIL", {"jid": "nosuchjob123"}) == err("Job not found nosuchjob123")
    assert totals(conn) == (0, 0)


# -- working_test ------------------------------------------------------------------------------


def test_ack_unknown_jid_is_ok_and_counts_nothing(server, connect):
    conn = connect(server)
    conn.ack("neverfetched1234")
    assert totals(conn) == (0, 0)


def test_ack_counts_once_and_double_ack_is_harmless(server, connect):
    conn = connect(server)
    job = make_job()
    conn.push(job)
    conn.fetch("default")
    assert sets(conn)["working"] == 1
    conn.ack(job["jid"])
    assert totals(conn) == (1, 0)
    assert sets(conn)["working"] == 0
    conn.ack(job["jid"])
    assert totals(conn) == (1, 0)
    # A FAIL after the ACK finds no reservation.
    assert conn.json_command("FAIL", {"jid": job["jid"]}) == err(f"Job not found {job['jid']}")


def test_busy_count_per_wid(server, connect):
    worker = connect(server, wid="busy-wid")
    for _ in range(2):
        worker.push(make_job())
    worker.fetch("default")
    worker.fetch("default")
    (record,) = server.call(server.store.workers)
    reservations = server.call(server.store.reservations)
    assert record.wid == "busy-wid"
    assert [r.wid for r in reservations] == ["busy-wid", "busy-wid"]


def test_reservation_expiry_fails_the_job(server, connect):
    conn = connect(server)
    job = make_job(reserve_for=20)  # clamped to 60 at FETCH
    conn.push(job)
    assert conn.fetch("default")["jid"] == job["jid"]

    server.advance(50, step=5)
    assert sets(conn) == {"dead": 0, "retries": 0, "scheduled": 0, "working": 1}
    assert totals(conn) == (0, 0)

    # Past 60 s, and the 15 s Busy task has run (at 60 s); the retry is due 15-44 s later.
    server.advance(15, step=5)
    wait_until(lambda: sets(conn)["retries"] == 1, what="the reaper")
    assert sets(conn) == {"dead": 0, "retries": 1, "scheduled": 0, "working": 0}
    assert totals(conn) == (1, 1)
    assert conn.info()["faktory"]["tasks"]["Busy"]["reaped"] == 1
    (entry,) = server.call(server.store.set_page, SortedSet.RETRIES, 0, 10)
    assert entry.job.jid == job["jid"]
    assert entry.job.failure.errtype == "ReservationExpired"
    assert entry.job.failure.message == "Faktory job reservation expired"
    # A late FAIL or ACK finds nothing.
    assert conn.json_command("FAIL", {"jid": job["jid"]}) == err(f"Job not found {job['jid']}")

    server.advance(60, step=1)
    wait_until(lambda: conn.info()["faktory"]["queues"].get("default") == 1, what="retry")
    retried = conn.fetch("default")
    assert retried["jid"] == job["jid"]
    assert retried["failure"]["errtype"] == "ReservationExpired"
    assert retried["failure"]["message"] == "Faktory job reservation expired"
    assert retried["failure"]["retry_count"] == 0
    assert "backtrace" not in retried["failure"]


def test_default_reservation_is_1800_seconds(server, connect):
    conn = connect(server)
    conn.push(make_job())
    conn.fetch("default")
    (reservation,) = server.call(server.store.reservations)
    assert reservation.expires_at - reservation.reserved_at == 1800


# -- scheduler_test ----------------------------------------------------------------------------


def test_scheduled_job_is_enqueued_when_due(server, connect):
    conn = connect(server)
    job = make_job(queue="later", at=format_ts(server.now() + 100))
    conn.push(job)
    server.advance(95, step=1)
    assert sets(conn)["scheduled"] == 1
    assert conn.info()["faktory"]["queues"] == {}
    server.advance(10, step=1)
    wait_until(lambda: conn.info()["faktory"]["queues"].get("later") == 1, what="the scheduler")
    info = conn.info()["faktory"]
    assert info["sets"]["scheduled"] == 0
    assert info["tasks"]["Scheduled"]["enqueued"] == 1
    fetched = conn.fetch("later")
    assert fetched["jid"] == job["jid"]
    assert fetched["enqueued_at"]


def test_dead_jobs_are_purged_after_180_days(server, connect):
    conn = connect(server)
    first, second = make_job(retry=-1), make_job(retry=-1)
    conn.push(first)
    conn.fetch("default")
    conn.fail(first["jid"])
    server.advance(10 * DAY)
    conn.push(second)
    conn.fetch("default")
    conn.fail(second["jid"])
    assert sets(conn)["dead"] == 2

    server.advance(170 * DAY - 120)  # not quite 180 days for the first one
    wait_until(lambda: conn.info()["faktory"]["tasks"]["Dead"]["cycles"] >= 2, what="Dead task")
    assert sets(conn)["dead"] == 2
    server.advance(180)
    wait_until(lambda: sets(conn)["dead"] == 1, what="the purge")
    (left,) = server.call(server.store.set_page, SortedSet.DEAD, 0, 10)
    assert left.job.jid == second["jid"]
    server.advance(10 * DAY)
    wait_until(lambda: sets(conn)["dead"] == 0, what="the second purge")
