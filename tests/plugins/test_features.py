"""Enterprise identity and feature storage: what a feature plugin builds on."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from faktory_core.clock import FakeClock
from faktory_core.hookspecs import hookimpl
from faktory_core.kernel import PluginError, load_kernel
from faktory_core.plugins import memory_store
from faktory_core.plugins.memory_store import MemoryStore, features
from faktory_core.protocol import Bulk

from .harness import Client, Running


class EnterpriseFeature:
    @hookimpl
    def faktory_core_enterprise_features(self) -> list[str]:
        return ["sample"]


def _description(client: Client) -> str:
    reply = client.command("INFO")
    assert isinstance(reply, Bulk)
    assert reply.data is not None
    description: str = json.loads(reply.data)["server"]["description"]
    return description


def test_info_says_faktory_without_an_enterprise_feature(
    serve: Callable[..., Running], connect: Callable[..., Client]
) -> None:
    assert _description(connect(serve())) == "Faktory"


def test_info_says_faktory_enterprise_while_a_feature_is_loaded(
    serve: Callable[..., Running], connect: Callable[..., Client]
) -> None:
    running = serve(("sample", EnterpriseFeature()))
    assert _description(connect(running)) == "Faktory Enterprise"
    health = running.call(_health, running)
    assert health["server"]["description"] == "Faktory Enterprise"


async def _health(running: Running) -> dict[str, Any]:
    server = running.thread.server
    assert server is not None
    return server.health()


def test_a_feature_gets_its_storage_from_the_store_plugin(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(features.FEATURES, "sample", lambda store: ("sample storage", store))
    kernel = load_kernel([("memory_store", memory_store)])
    store = MemoryStore(FakeClock())

    assert kernel.feature_storage("sample", store) == ("sample storage", store)


def test_a_store_without_the_feature_is_a_clear_error() -> None:
    kernel = load_kernel([("memory_store", memory_store)])
    with pytest.raises(PluginError, match="has no storage for the 'nothing' feature"):
        kernel.feature_storage("nothing", MemoryStore(FakeClock()))


def test_the_memory_store_answers_only_for_its_own_stores(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(features.FEATURES, "sample", lambda store: "storage")
    assert features.faktory_core_feature_storage("sample", object()) is None  # type: ignore[arg-type]
