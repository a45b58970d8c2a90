"""MUTATE over real TCP: Faktory's server/mutate_test.go sequence (reference §3.9)."""

from __future__ import annotations

import json

from faktory_core.model import SortedSet
from faktory_core.timefmt import format_ts
from tests.integration.conftest import OK, err, make_job


def state(conn) -> tuple[int, int, int]:
    """(scheduled, dead, jobs in default), as mutate_test.go checks after every step."""
    faktory = conn.info()["faktory"]
    return (
        faktory["sets"]["scheduled"],
        faktory["sets"]["dead"],
        faktory["queues"].get("default", 0),
    )


def mutate(conn, cmd: str, target: str, **filter_fields) -> object:
    op: dict[str, object] = {"cmd": cmd, "target": target}
    if filter_fields:
        op["filter"] = filter_fields
    return conn.json_command("MUTATE", op)


def test_mutate_test_go_sequence(server, connect):
    conn = connect(server)
    assert mutate(conn, "clear", "retries") == OK
    assert state(conn) == (0, 0, 0)

    soon = format_ts(server.now() + 10)
    job1 = make_job("AnotherJob", ["truid:67123", 3], at=soon)
    job2 = make_job("SomeJob", ["truid:67123", 3], at=soon)
    job3 = make_job("SomeJob", ["trid:67123", 5], at=soon)
    job4 = make_job("FooJob", ["445", 5], at=soon)
    job5 = make_job("FooJob", ["445", 5])
    for job in (job1, job2, job3, job4, job5):
        conn.push(job)
    target_jid = job4["jid"]
    assert state(conn) == (4, 0, 1)

    # Discard the SomeJob matching the glob: JOB2 only.
    assert mutate(conn, "discard", "scheduled", jobtype="SomeJob", regexp="*uid:67123*") == OK
    assert state(conn) == (3, 0, 1)
    scheduled = server.call(server.store.set_page, SortedSet.SCHEDULED, 0, 10)
    assert job2["jid"] not in {e.job.jid for e in scheduled}

    # Kill the only AnotherJob (JOB1); a kill without a target is an error.
    assert mutate(conn, "kill", "scheduled", jobtype="AnotherJob") == OK
    assert mutate(conn, "kill", "", jobtype="AnotherJob") == err(
        "invalid target for mutation command"
    )
    assert state(conn) == (2, 1, 1)

    # Requeue JOB4 by jid: it goes to its queue now.
    assert mutate(conn, "requeue", "scheduled", jids=[target_jid]) == OK
    assert state(conn) == (1, 1, 2)

    # Clear the dead set (JOB1).
    assert mutate(conn, "clear", "dead") == OK
    assert state(conn) == (1, 0, 2)

    # jids override jobtype: JOB4's jid is no longer scheduled, so nothing changes.
    assert mutate(conn, "kill", "scheduled", jobtype="SomeJob", jids=[target_jid]) == OK
    assert state(conn) == (1, 0, 2)
    # Without the jids, JOB3 dies.
    assert mutate(conn, "kill", "scheduled", jobtype="SomeJob") == OK
    assert state(conn) == (0, 1, 2)
    (dead,) = server.call(server.store.set_page, SortedSet.DEAD, 0, 10)
    assert dead.job.jid == job3["jid"]
    assert dead.score == server.now() + 180 * 86400

    # jids override jobtype when requeueing the dead too.
    assert mutate(conn, "requeue", "dead", jobtype="SomeJob", jids=[target_jid]) == OK
    assert state(conn) == (0, 1, 2)
    assert mutate(conn, "requeue", "dead", jobtype="SomeJob") == OK
    assert state(conn) == (0, 0, 3)

    # FIFO: JOB5 (pushed), JOB4 (requeued), JOB3 (requeued from dead).
    order = [conn.fetch("default")["jid"] for _ in range(3)]
    assert order == [job5["jid"], job4["jid"], job3["jid"]]


def test_mutate_json_may_contain_spaces(server, connect):
    conn = connect(server)
    keep, drop = make_job("Keep"), make_job("Drop")
    for job in (keep, drop):
        conn.push(job | {"at": format_ts(server.now() + 60)})
    op = {"cmd": "discard", "target": "scheduled", "filter": {"jobtype": "Drop"}}
    line = b"MUTATE " + json.dumps(op, separators=(", ", ": ")).encode() + b"\r\n"
    assert b" " in line[len("MUTATE ") :]
    assert conn.call(line) == OK
    remaining = server.call(server.store.set_page, SortedSet.SCHEDULED, 0, 10)
    assert [e.job.jid for e in remaining] == [keep["jid"]]


def test_requeue_goes_to_the_jobs_own_queue_with_a_fresh_enqueued_at(server, connect):
    conn = connect(server)
    job = make_job(queue="critical", at=format_ts(server.now() + 3600))
    other = make_job(queue="low", at=format_ts(server.now() + 3600))
    conn.push(job)
    conn.push(other)
    server.advance(5)
    assert mutate(conn, "requeue", "scheduled", jids=[job["jid"]]) == OK
    faktory = conn.info()["faktory"]
    assert faktory["queues"] == {"critical": 1}
    assert faktory["sets"]["scheduled"] == 1
    fetched = conn.fetch("critical")
    assert fetched["jid"] == job["jid"]
    assert fetched["enqueued_at"] == format_ts(server.now())


def test_mutate_glob_alone_and_empty_filter(server, connect):
    conn = connect(server)
    jobs = [make_job("G", [f"user:{n}"], retry=-1) for n in (1, 2, 12)]
    for job in jobs:
        conn.push(job)
        conn.fetch("default")
        conn.fail(job["jid"])
    assert conn.info()["faktory"]["sets"]["dead"] == 3
    # A Redis glob over the stored JSON, not a regular expression.
    assert mutate(conn, "discard", "dead", regexp='*"user:1"*') == OK
    assert conn.info()["faktory"]["sets"]["dead"] == 2
    assert mutate(conn, "discard", "dead", regexp="*user:[12]*") == OK
    assert conn.info()["faktory"]["sets"]["dead"] == 0
    for job in jobs:
        conn.push(job | {"at": format_ts(server.now() + 60)})
    # An empty filter matches everything.
    assert conn.call(b'MUTATE {"cmd":"kill","target":"scheduled","filter":{}}\r\n') == OK
    assert conn.info()["faktory"]["sets"] == {
        "dead": 3,
        "retries": 0,
        "scheduled": 0,
        "working": 0,
    }
