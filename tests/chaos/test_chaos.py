"""Three faktory-core servers on one Redis deployment (master, replica, three sentinels), under
load, while a server is killed and restarted, the master is stopped and continued, and the master
is killed so the sentinels promote the replica. Then every job is accounted for (docs/chaos.md).
"""

from __future__ import annotations

from collections.abc import Iterator
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


def start_servers(url: str, folder: Path) -> list[Server]:
    servers = [
        Server(
            folder / f"server{n}",
            url,
            web=f"127.0.0.1:{_free_port()}",
            env={"FAKTORY_CRON_TOML": cron_toml()},
        )
        for n in range(3)
    ]
    return servers


@pytest.fixture
def servers(topology: Topology, tmp_path: Path) -> Iterator[list[Server]]:
    made = start_servers(topology.plain_url, tmp_path)
    try:
        for server in made:
            server.start()
        yield made
    finally:
        for server in made:
            server.stop()


@pytest.mark.slow
def test_three_servers_survive_server_kills_and_a_stopped_master(
    topology: Topology, servers: list[Server]
) -> None:
    chaos = Chaos(topology, servers, failover=False)
    chaos.run()
    report = account(chaos)
    print("\n".join(report.lines))
    assert report.problems == [], "\n".join([*report.problems[:30], *report.lines])
    assert chaos.web_pages() == [200, 200, 200]
