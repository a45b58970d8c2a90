"""The unique and expiring plugins are on by default, name themselves as Enterprise features,
and go with ``--no-plugin``; a store without lock storage is a clear error at start-up."""

from __future__ import annotations

import json

import pytest

from faktory_core.config import Config
from faktory_core.kernel import DEFAULT_PLUGINS, PluginError, load_kernel
from faktory_core.middleware import JobMiddleware, Step, build_chains
from faktory_core.model import Job
from faktory_core.plugins import expiring, memory_store, unique
from faktory_core.plugins.memory_store import MemoryStore
from faktory_core.plugins.unique import UniqueMiddleware
from faktory_core.protocol import Bulk
from faktory_core.server.app import Server
from faktory_core.testing import FakeClock, FwpSocket, ServerThread


def test_both_are_default_plugins_and_enterprise_features() -> None:
    assert {"unique", "expiring"} <= set(DEFAULT_PLUGINS)
    kernel = load_kernel()
    assert {"unique", "expiring"} <= set(kernel.names)
    assert {"unique", "expiring"} <= set(kernel.enterprise_features())
    assert kernel.description == "Faktory Enterprise"


def test_no_plugin_turns_them_off() -> None:
    kernel = load_kernel(disabled=["unique", "expiring"])
    assert not {"unique", "expiring"} & set(kernel.names)
    assert not {"unique", "expiring"} & set(kernel.enterprise_features())


def test_info_says_enterprise() -> None:
    plugins = [("unique", unique), ("expiring", expiring), ("memory_store", memory_store)]
    with ServerThread(MemoryStore(FakeClock()), clock=FakeClock(), plugins=plugins) as running:
        conn = FwpSocket.open(running.port)
        try:
            reply = conn.command("INFO")
            assert isinstance(reply, Bulk)
            assert reply.data is not None
            assert json.loads(reply.data)["server"]["description"] == "Faktory Enterprise"
        finally:
            conn.close()


def test_a_store_without_lock_storage_stops_the_start() -> None:
    # Only the unique plugin: no store plugin answers the feature-storage hook.
    kernel = load_kernel(plugins=[("unique", unique)])
    server = Server.create(Config(binding="127.0.0.1:0", web_binding=":0"), kernel, FakeClock(),
                           store=MemoryStore(FakeClock()))  # fmt: skip
    with pytest.raises(PluginError, match="no storage for the 'unique' feature"):
        unique.faktory_core_startup(server)


class _Picky(JobMiddleware):
    """Acts on jobs with ``custom.picky`` only; its fetch step is all it has."""

    def wants(self, job: Job) -> bool:
        return job.custom is not None and "picky" in job.custom

    async def fetch(self, job: Job, call_next: Step) -> None:
        await call_next(job)


def test_a_chain_runs_only_for_jobs_one_of_its_middlewares_wants() -> None:
    chains = build_chains([_Picky(), UniqueMiddleware(FakeClock())])
    plain = Job("j" * 8, "Plain", [])
    picky = Job("k" * 8, "Plain", [], custom={"picky": 1})
    locked = Job("l" * 8, "Plain", [], custom={"unique_for": 5})
    assert not chains.wants("fetch", plain)
    assert chains.wants("fetch", picky)
    assert chains.wants("fetch", locked)
    assert not chains.wants("push", picky)  # _Picky has no push step
    assert chains.wants("push", locked)
    assert not chains.wants("fail", locked)  # nobody has a fail step


class _Everything(JobMiddleware):
    """Wants every job, custom or not (``custom_only`` stays False)."""

    async def fetch(self, job: Job, call_next: Step) -> None:
        await call_next(job)


class _CustomOnly(_Everything):
    """Says (wrongly, to show the flag is obeyed) that its ``wants`` needs ``custom``."""

    custom_only = True

    def wants(self, job: Job) -> bool:
        return True


def test_custom_only_middlewares_are_not_asked_about_plain_jobs() -> None:
    plain = Job("j" * 8, "Plain", [])
    custom = Job("k" * 8, "Plain", [], custom={"x": 1})
    only = build_chains([_CustomOnly(), UniqueMiddleware(FakeClock())])
    assert only.custom_only == {"push", "fetch", "ack", "fail"}
    assert not only.wants("fetch", plain)  # not asked: every fetch middleware is custom_only
    assert only.wants("fetch", custom)  # asked
    mixed = build_chains([_Everything(), UniqueMiddleware(FakeClock())])
    assert "fetch" not in mixed.custom_only
    assert mixed.wants("fetch", plain)  # one middleware may want plain jobs: all are asked
    assert "push" in mixed.custom_only  # unique is the only push step
