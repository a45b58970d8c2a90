"""Three faktory-core servers on one Redis deployment (master, replica, three sentinels), under
load, while servers are killed and restarted, the master is stopped and continued, and the
master is killed so that the sentinels promote the replica. Then every job is accounted for;
docs/chaos.md says what is checked and what each bound is.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from ..redis.test_crash import Server, _free_port  # noqa: TID252
from .chaos import Chaos, account, cron_toml
from .topology import Topology


@pytest.fixture
def topology(redis_binary: str, tmp_path: Path) -> Iterator[Topology]:
    topology = Topology(redis_binary, tmp_path / "redis")
    try:
        topology.start()
        yield topology
    finally:
        topology.stop()


@pytest.fixture
def servers_on(tmp_path: Path) -> Iterator[Callable[[str], list[Server]]]:
    """Three servers on a Redis URL, each with its own port and web port, all started."""
    made: list[Server] = []

    def start(url: str) -> list[Server]:
        for n in range(3):
            web = f"127.0.0.1:{_free_port()}"
            env = {"FAKTORY_CRON_TOML": cron_toml()}
            made.append(Server(tmp_path / f"server{n}", url, web=web, env=env))
        for server in made:
            server.start()
        return made

    yield start
    for server in made:
        server.stop()


def run(chaos: Chaos) -> None:
    chaos.run()
    report = account(chaos)
    print("\n".join(report.lines))
    assert report.problems == [], "\n".join([*report.problems[:30], *report.lines])
    assert chaos.web_pages() == [200, 200, 200]
    assert all(server.proc is not None and server.proc.poll() is None for server in chaos.servers)


@pytest.mark.slow
def test_a_failover_behind_a_moving_address_loses_only_what_replication_may_lose(
    topology: Topology, servers_on: Callable[[str], list[Server]]
) -> None:
    """Every fault. The servers reach the master through a unix socket path that the test
    moves to the promoted replica, as a virtual IP that follows the sentinels would move."""
    run(Chaos(topology, servers_on(topology.moving_url), failover=True))


@pytest.mark.slow
def test_a_failover_loses_only_what_replication_may_lose(
    topology: Topology, servers_on: Callable[[str], list[Server]]
) -> None:
    """The servers find the master through the sentinels: every fault, the failover too."""
    run(Chaos(topology, servers_on(topology.sentinel_url), failover=True))
