"""``faktory-core worker module:attribute`` (faktory_core.worker_cli): loading the application's
Worker, FAKTORY_URL, and the signals: TSTP quiets, TERM/INT terminate, a second TERM is now."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import faktory_core_client_test_support as support  # type: ignore[import-not-found]
import pytest

from faktory_core.client import Client, Job
from faktory_core.model import SortedSet
from faktory_core.model import WorkerState as ServerState
from faktory_core.worker import Worker
from faktory_core.worker_cli import TargetError, load_worker, run

APP = """
import json, os, time

import anyio

from faktory_core.worker import Worker

worker = Worker(
    concurrency=2,
    heartbeat_interval=0.1,
    grace_period=float(os.environ.get("TEST_GRACE", "1")),
    reconnect_delay=0.2,
)


@worker.job()
def record(value):
    with open(os.environ["TEST_OUTPUT"], "a") as out:
        out.write(json.dumps(value) + "\\n")


@worker.job()
async def hang():
    await anyio.sleep_forever()


@worker.job()
def block():
    time.sleep(120)  # a plain job that outlives the grace period: its thread is abandoned


def make_worker():
    return worker


def broken_worker():
    broken = Worker("tcp://127.0.0.1:1")

    @broken.on_startup
    def connect_database(ctx):
        raise RuntimeError("no database")

    return broken


not_a_worker = 42
"""

RUN = "import sys; from faktory_core.worker_cli import run; sys.exit(run(sys.argv[1:]))"


@pytest.fixture
def app_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    package = tmp_path / "myapp"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "jobs.py").write_text(textwrap.dedent(APP))
    monkeypatch.chdir(tmp_path)
    yield tmp_path
    for name in [m for m in sys.modules if m == "myapp" or m.startswith("myapp.")]:
        del sys.modules[name]


class WorkerProcess:
    def __init__(self, app_dir: Path, url: str, *args: str, grace: float = 1.0) -> None:
        self.output = app_dir / "ran.jsonl"
        self.log = app_dir / "worker.log"
        env = {**os.environ, "FAKTORY_URL": url, "TEST_OUTPUT": str(self.output)}
        env["TEST_GRACE"] = str(grace)
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-c", RUN, "myapp.jobs:worker", *args],
                cwd=app_dir, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
            )  # fmt: skip

    def signal(self, signum: int) -> None:
        self.proc.send_signal(signum)

    def wait(self, timeout: float = 30.0) -> int:
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"worker did not exit:\n{self.log.read_text()[-3000:]}") from None

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(30)


@pytest.fixture
def start_worker(app_dir: Path) -> Iterator[Callable[..., WorkerProcess]]:
    started: list[WorkerProcess] = []

    def start(url: str, *args: str, grace: float = 1.0) -> WorkerProcess:
        process = WorkerProcess(app_dir, url, *args, grace=grace)
        started.append(process)
        return process

    yield start
    for process in started:
        process.stop()


def workers(server: Any) -> list[Any]:
    found: list[Any] = server.call(server.store.workers)
    return found


def test_runs_the_application_worker_from_faktory_url(
    server: Any, start_worker: Callable[..., WorkerProcess]
) -> None:
    process = start_worker(server.url)
    with Client(server.url) as client:
        client.push_bulk([Job("record", [n]) for n in range(5)])
    support.wait_until(lambda: server.stats()["total_processed"] == 5, timeout=30)
    ran = [json.loads(line) for line in process.output.read_text().splitlines()]
    assert sorted(ran) == [0, 1, 2, 3, 4]
    process.signal(signal.SIGTERM)
    assert process.wait() == 0
    support.wait_until(lambda: not workers(server), what="the worker to deregister")


@support.every_store
def test_sigtstp_quiets_and_sigterm_terminates(
    server: Any, start_worker: Callable[..., WorkerProcess]
) -> None:
    process = start_worker(server.url)
    support.wait_until(lambda: workers(server), timeout=30, what="the worker to register")
    process.signal(signal.SIGTSTP)
    # The worker reports its own quiet state in its next BEAT.
    support.wait_until(lambda: workers(server)[0].state is ServerState.QUIET, timeout=10)
    assert process.proc.poll() is None  # quiet is not exit
    process.signal(signal.SIGTERM)
    assert process.wait() == 0


@support.every_store
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["TERM", "INT"])
def test_terminate_fails_jobs_cut_off_by_the_grace_period(
    server: Any, start_worker: Callable[..., WorkerProcess], signum: int
) -> None:
    process = start_worker(server.url, grace=0.5)
    cut_off = [Job("hang"), Job("block")]
    with Client(server.url) as client:
        client.push_bulk(cut_off)
    support.wait_until(lambda: server.stats()["sets"]["working"] == 2, timeout=30)
    process.signal(signum)
    # Exits although a plain job's thread is still sleeping (it is abandoned).
    assert process.wait() == 0
    failed = {job.jid: job.failure for job in server.set_jobs(SortedSet.RETRIES)}
    assert set(failed) == {job.jid for job in cut_off}
    assert {failure.errtype for failure in failed.values()} == {"Shutdown"}
    assert server.stats()["sets"]["working"] == 0


def test_a_second_sigterm_ends_the_grace_period_at_once(
    server: Any, start_worker: Callable[..., WorkerProcess]
) -> None:
    process = start_worker(server.url, grace=600)
    with Client(server.url) as client:
        client.push(Job("hang"))
    support.wait_until(lambda: server.stats()["sets"]["working"] == 1, timeout=30)
    process.signal(signal.SIGTERM)
    support.wait_until(lambda: workers(server)[0].state is ServerState.TERMINATE, timeout=10)
    process.signal(signal.SIGTERM)
    assert process.wait(timeout=60) == 0  # far less than the 600 s grace period
    [failed] = server.set_jobs(SortedSet.RETRIES)
    assert failed.failure.errtype == "Shutdown"


def test_options_override_the_worker(
    server: Any, start_worker: Callable[..., WorkerProcess]
) -> None:
    process = start_worker("tcp://127.0.0.1:1", "--url", server.url, "-q", "other", "-c", "1")
    with Client(server.url) as client:
        client.push_bulk([Job("record", ["default"]), Job("record", ["other"], queue="other")])
    support.wait_until(lambda: server.stats()["total_processed"] == 1, timeout=30)
    assert process.output.read_text() == '"other"\n'
    [worker] = workers(server)
    assert worker.connections == 2  # heartbeat + one fetcher
    process.signal(signal.SIGTERM)
    assert process.wait() == 0


def test_the_timeout_option_fails_jobs_that_run_too_long(
    server: Any, start_worker: Callable[..., WorkerProcess]
) -> None:
    process = start_worker(server.url, "-t", "0.2")
    hung = Job("hang")
    with Client(server.url) as client:
        client.push(hung)
    support.wait_until(lambda: server.stats()["sets"]["retries"] == 1, timeout=30)
    [failed] = server.set_jobs(SortedSet.RETRIES)
    assert (failed.jid, failed.failure.errtype) == (hung.jid, "JobTimeout")
    process.signal(signal.SIGTERM)
    assert process.wait() == 0


def test_a_failing_startup_hook_exits_with_its_message(
    app_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    assert run(["myapp.jobs:broken_worker"]) == 1
    assert caplog.messages[-1] == (
        "startup hook broken_worker.<locals>.connect_database failed: RuntimeError('no database')"
    )


def test_a_refused_password_exits_with_an_error(
    make_server: Callable[..., Any], start_worker: Callable[..., WorkerProcess]
) -> None:
    server = make_server(password="s3cret")
    process = start_worker(f"tcp://:wrong@127.0.0.1:{server.port}")
    assert process.wait() == 1
    assert (
        f"cannot authenticate to Faktory at 127.0.0.1:{server.port}: Invalid password"
        in process.log.read_text()
    )


# -- loading the target, in process -----------------------------------------------------------


def test_load_worker_accepts_a_worker_or_a_factory(app_dir: Path) -> None:
    worker = load_worker("myapp.jobs:worker")
    assert isinstance(worker, Worker)
    assert load_worker("myapp.jobs:make_worker") is worker


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("myapp.jobs", "expected module:attribute"),
        ("myapp.nothere:worker", "cannot import 'myapp.nothere'"),
        ("myapp.jobs:missing", "has no attribute 'missing'"),
        ("myapp.jobs:not_a_worker", "is a int, not a Worker"),
    ],
)
def test_bad_targets(app_dir: Path, target: str, message: str) -> None:
    with pytest.raises(TargetError, match=message):
        load_worker(target)
    assert run([target]) == 1


def test_bad_options(app_dir: Path) -> None:
    assert run(["myapp.jobs:worker", "-c", "0"]) == 1
    assert run(["myapp.jobs:worker", "-t", "0"]) == 1
    with pytest.raises(SystemExit):
        run(["myapp.jobs:worker", "--log-level", "loud"])
