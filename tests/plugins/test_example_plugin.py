"""The example third-party plugin in ``examples/faktory-core-hello``, installed in the venv
(``pip install -e examples/faktory-core-hello``): found through its entry point, loaded only
when named, and working over a real socket once loaded."""

from __future__ import annotations

from collections.abc import Callable

from faktory_core.kernel import BUILTIN_PLUGINS, DEFAULT_PLUGINS, installed_plugins, load_kernel
from faktory_core.protocol import SimpleString

from .harness import Client, Running, error, make_job

BUILTINS = {name for name, _ in BUILTIN_PLUGINS}


def test_the_example_is_installed_under_the_faktory_core_group():
    assert installed_plugins()["hello"] == "faktory_core_hello"


def test_naming_it_registers_it():
    import faktory_core_hello

    kernel = load_kernel(requested=["hello"])

    assert kernel.pm.get_plugin("hello") is faktory_core_hello
    assert "memory_store" in kernel.names  # not a store: the default store stays


def test_installed_but_not_named_it_is_not_loaded():
    kernel = load_kernel()

    assert "hello" in installed_plugins()
    assert "hello" not in kernel.names


def _loaded_through_entry_points() -> list[tuple[str, object]]:
    """The plugins ``load_kernel(requested=["hello"])`` registers, defaults switched off."""
    defaults = [name for name in DEFAULT_PLUGINS if name in installed_plugins()]
    kernel = load_kernel(requested=["hello"], disabled=defaults)
    return [(name, plugin) for name, plugin in kernel.pm.list_name_plugin() if name not in BUILTINS]


def test_its_hooks_run_over_a_socket(serve: Callable[..., Running], connect: Callable[..., Client]):
    plugins = _loaded_through_entry_points()
    assert [name for name, _ in plugins] == ["hello"]
    client = connect(serve(*plugins))

    assert client.command("PING") == SimpleString("PONG")

    plain = make_job("Greet", [1])
    own = make_job("Greet", [2], custom={"hello": "mars", "other": True})
    client.push(plain)
    client.push(own)
    assert client.fetch()["custom"] == {"hello": "world"}
    assert client.fetch()["custom"] == {"hello": "mars", "other": True}


def test_without_it_ping_is_unknown(serve: Callable[..., Running], connect: Callable[..., Client]):
    client = connect(serve())
    client.push(make_job())

    assert client.command("PING") == error("ERR", "unknown command PING")
    assert "custom" not in client.fetch()
