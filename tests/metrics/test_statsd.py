"""DogStatsD over a real UDP socket on both stores: Enterprise's names and tags (enterprise.md
§7), batching, the settings, and a dead agent that changes nothing for clients."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import anyio
import pytest

from faktory_core.plugins.metrics import MetricsPlugin
from faktory_core.plugins.metrics.settings import (
    MetricsConfigError,
    StatsdSettings,
    statsd_settings,
)
from faktory_core.plugins.metrics.statsd import MAX_PACKET, Intervals, Statsd

from ..redis import either_store  # noqa: TID252
from ..redis.either_store import Running  # noqa: TID252
from .support import start_metrics

module_redis = either_store.module_redis
serve = either_store.serve

#: Real seconds to wait for datagrams that must come (the loop flushes every 20 ms here).
RECEIVE_SECONDS = 10.0
FAST = Intervals(flush=0.02, counters=0.05, globals=0.05)


class Agent:
    """A UDP socket standing in for the DogStatsD agent."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.lines: list[str] = []
        self.packets = 0

    def receive_until(self, wanted: Callable[[list[str]], bool]) -> list[str]:
        deadline = time.monotonic() + RECEIVE_SECONDS
        while not wanted(self.lines) and time.monotonic() < deadline:
            try:
                data = self.sock.recv(65536)
            except TimeoutError:
                continue
            self.packets += 1
            self.lines.extend(data.decode().split("\n"))
        assert wanted(self.lines), self.lines[-20:]
        return self.lines


@pytest.fixture
def agent() -> Iterator[Agent]:
    found = Agent()
    yield found
    found.sock.close()


def has(*prefixes: str) -> Callable[[list[str]], bool]:
    return lambda lines: all(any(line.startswith(p) for line in lines) for p in prefixes)


def test_job_metrics_with_enterprise_names_and_tags(
    serve: Callable[..., Running], agent: Agent
) -> None:
    plugin = MetricsPlugin(environ={}, statsd=FAST)
    statsd = {"location": f"127.0.0.1:{agent.port}", "tags": ["env:test"]}
    metrics = start_metrics(serve, plugin, toml={"statsd": statsd})
    conn = metrics.conn()
    metrics.push(conn, "Mail", "mail")
    metrics.push(conn, "Mail", "mail")
    jid = metrics.fetch(conn, "mail")["jid"]
    metrics.advance(2)
    metrics.ack(conn, jid)
    metrics.fail(conn, metrics.fetch(conn, "mail")["jid"])
    tags = "|#env:test,queue:mail,jobtype:Mail"
    lines = agent.receive_until(
        has(f"faktory.jobs.perform:2000|ms{tags}", f"faktory.jobs.failed:1|c{tags}")
    )
    assert lines.count(f"faktory.jobs.count:1|c{tags}") == 2
    conn.close()


def test_globals_and_queue_gauges(serve: Callable[..., Running], agent: Agent) -> None:
    plugin = MetricsPlugin(environ={}, statsd=FAST)
    statsd = {"location": f"127.0.0.1:{agent.port}", "queueLatency": ["slow"]}
    metrics = start_metrics(serve, plugin, toml={"statsd": statsd})
    conn = metrics.conn()
    metrics.push(conn, "Old", "slow")
    metrics.advance(30)
    agent.receive_until(
        has(
            "faktory.processed:0|g",
            "faktory.failures:0|g",
            "faktory.enqueued:1|g",
            "faktory.scheduled:0|g",
            "faktory.retries:0|g",
            "faktory.dead:0|g",
            "faktory.working:0|g",
            "faktory.connections:",
            "faktory.ops.redis.rtt_us:",
            "faktory.queue.size:1|g|#queue:slow",
            "faktory.enqueued.slow:1|g",
            "faktory.queue.latency:30|g|#queue:slow",
            "faktory.latency.slow:30|g",
        )
    )
    conn.close()


def test_plugin_counters_as_enterprise_counters(
    serve: Callable[..., Running], agent: Agent
) -> None:
    plugin = MetricsPlugin(
        environ={"DD_DOGSTATSD_URL": f"udp://127.0.0.1:{agent.port}"}, statsd=FAST
    )
    metrics = start_metrics(serve, plugin, toml={"statsd": {"namespace": "fk."}})
    server = metrics.running.thread.server
    assert server is not None

    async def count() -> None:
        server.counters.add("expired", queue="q", jobtype="T")
        server.counters.add("unique_denied", 3, queue="q", jobtype="T")
        server.counters.add("throttled", queue="q")

    metrics.running.call(count)
    agent.receive_until(
        has(
            "fk.jobs.expired:1|c|#jobtype:T,queue:q",
            "fk.uniq.denied:3|c|#jobtype:T,queue:q",
            "fk.throttled:1|c|#queue:q",
        )
    )


def test_a_dead_agent_changes_nothing_for_clients(serve: Callable[..., Running]) -> None:
    unused = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    unused.bind(("127.0.0.1", 0))
    port = unused.getsockname()[1]
    unused.close()  # nobody listens: every datagram gets an ICMP refusal
    plugin = MetricsPlugin(environ={}, statsd=FAST)
    metrics = start_metrics(serve, plugin, toml={"statsd": {"location": f"127.0.0.1:{port}"}})
    conn = metrics.conn()
    for _ in range(50):
        jid = metrics.push(conn, "Work")
        assert metrics.fetch(conn)["jid"] == jid
        metrics.ack(conn, jid)
    assert metrics.info()["faktory"]["total_processed"] == 50
    statsd = metrics.state.statsd
    assert statsd is not None
    metrics.running.call(_flush, statsd)
    assert statsd.dropped + statsd.sent >= 100  # counts and timings, each sent or dropped
    conn.close()


async def _flush(statsd: Statsd) -> None:
    statsd.flush()


def test_lines_are_batched_into_packets(agent: Agent) -> None:
    settings = StatsdSettings(address=("udp", "127.0.0.1", agent.port), buffer_size=10)
    statsd = Statsd(settings)
    anyio.run(statsd.open)
    for index in range(25):
        statsd.count("jobs.count", 1, [f"n:{index}"])
    statsd.flush()
    agent.receive_until(lambda lines: len(lines) == 25)
    assert agent.packets == 3  # 10, 10, then the 5 the flush sent
    statsd.close()


def test_a_packet_never_exceeds_the_limit(agent: Agent) -> None:
    settings = StatsdSettings(address=("udp", "127.0.0.1", agent.port), buffer_size=1000)
    statsd = Statsd(settings)
    anyio.run(statsd.open)
    for index in range(200):
        statsd.gauge(f"queue.size.{index:04}", index)
    statsd.flush()
    agent.receive_until(lambda lines: len(lines) == 200)
    assert agent.packets > 1
    assert all(len(line) < MAX_PACKET for line in agent.lines)
    statsd.close()


def test_a_unix_socket_agent(tmp_path: Path) -> None:
    path = tmp_path / "dsd.sock"
    receiver = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    receiver.bind(str(path))
    receiver.settimeout(RECEIVE_SECONDS)
    settings = statsd_settings({}, {"DD_DOGSTATSD_URL": f"unix://{path}"})
    assert settings is not None
    statsd = Statsd(settings)
    anyio.run(statsd.open)
    statsd.gauge("processed", 7)
    statsd.flush()
    assert receiver.recv(4096) == b"faktory.processed:7|g"
    statsd.close()
    receiver.close()


@pytest.mark.parametrize(
    ("toml", "environ", "expected"),
    [
        ({}, {}, None),
        ({}, {"DD_DOGSTATSD_URL": "udp://agent"}, ("udp", "agent", 8125)),
        ({}, {"DD_DOGSTATSD_URL": "udp://agent:9125"}, ("udp", "agent", 9125)),
        ({"statsd": {"location": "dd:8126"}}, {}, ("udp", "dd", 8126)),
        (
            {"statsd": {"location": "dd:8126"}},
            {"DD_DOGSTATSD_URL": "unix:///run/dsd.sock"},
            ("unix", "/run/dsd.sock", 0),
        ),
    ],
)
def test_where_metrics_go(
    toml: dict[str, object], environ: dict[str, str], expected: tuple[str, str, int] | None
) -> None:
    found = statsd_settings(toml, environ)
    assert (found.address if found else None) == expected


@pytest.mark.parametrize(
    ("table", "environ", "message"),
    [
        ({"namespace": "x."}, {}, "[statsd] location is required"),
        ({"location": "nohost"}, {}, "is not host:port"),
        ({"location": "a:1", "tags": ["9bad"]}, {}, "tags must start with a letter"),
        ({"location": "a:1", "tags": "env:x"}, {}, "tags must be a list of strings"),
        ({"location": "a:1", "bufferSize": 0}, {}, "bufferSize must be at least 1"),
        ({}, {"DD_DOGSTATSD_URL": "unix://relative"}, "needs an absolute socket path"),
        ({}, {"DD_DOGSTATSD_URL": "udp://:99999"}, "is not udp://host[:port]"),
    ],
)
def test_bad_settings_are_named(
    table: dict[str, object], environ: dict[str, str], message: str
) -> None:
    with pytest.raises(MetricsConfigError, match=message.replace("[", r"\[")):
        statsd_settings({"statsd": table}, environ)
