"""Plugin selection and the factory hooks.

Entry points are real: a test that needs more plugins than are installed writes a small
distribution (a ``*.dist-info`` folder with ``entry_points.txt``, and its modules) into a
temporary directory put on ``sys.path``; ``importlib.metadata`` finds it like any installed one.
"""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from faktory_core import hookspecs
from faktory_core.clock import FakeClock
from faktory_core.config import Config
from faktory_core.kernel import (
    BUILTIN_PLUGINS,
    DEFAULT_PLUGINS,
    PluginError,
    installed_plugins,
    load_kernel,
)
from faktory_core.model import SortedSet
from faktory_core.plugins import memory_store
from faktory_core.plugins.memory_store import MemoryStore
from faktory_core.protocol import Reply, SimpleString
from faktory_core.retry import FaktoryRetryPolicy

from .harness import OK, Client, Running, error, make_job
from .sample_plugins import (
    DeadPolicyPlugin,
    Echo,
    MisspelledStore,
    OnlyWidPlugin,
    Recorder,
    StraightToDead,
)

BUILTINS = [name for name, _ in BUILTIN_PLUGINS]

STORE_MODULE = """
from faktory_core.hookspecs import hookimpl
from faktory_core.plugins.memory_store import MemoryStore
from faktory_core.protocol import Reply, SimpleString

MADE = []


@hookimpl
def faktory_core_make_store(config, clock):
    store = MemoryStore(clock)
    MADE.append(store)
    return store
"""

Install = Callable[..., None]


@pytest.fixture
def install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Install]:
    """``install(dist, modules={name: source}, plugins={entry name: module})`` makes a
    distribution visible to ``importlib.metadata``; its modules are forgotten at teardown."""
    imported: list[str] = []

    def install_dist(dist: str, *, modules: dict[str, str], plugins: dict[str, str]) -> None:
        root = tmp_path / dist
        info = root / f"{dist}-0.1.dist-info"
        info.mkdir(parents=True)
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1\n")
        lines = [f"{name} = {module}" for name, module in plugins.items()]
        (info / "entry_points.txt").write_text("[faktory_core]\n" + "\n".join(lines) + "\n")
        for name, source in modules.items():
            (root / f"{name}.py").write_text(textwrap.dedent(source))
            imported.append(name)
        monkeypatch.syspath_prepend(str(root))

    yield install_dist
    for name in imported:
        sys.modules.pop(name, None)


def two_stores(install: Install) -> None:
    install(
        "fake-stores",
        modules={"fake_store_a": STORE_MODULE, "fake_store_b": STORE_MODULE},
        plugins={"store_a": "fake_store_a", "store_b": "fake_store_b"},
    )


# -- selection -----------------------------------------------------------------------------------


def test_the_defaults_load_when_installed():
    installed = installed_plugins()
    kernel = load_kernel()

    assert installed["memory_store"] == "faktory_core.plugins.memory_store"
    assert kernel.names[: len(BUILTINS)] == BUILTINS
    assert kernel.pm.get_plugin("memory_store") is memory_store
    for name in DEFAULT_PLUGINS:
        assert (name in kernel.names) == (name in installed), name
    assert isinstance(kernel.store(Config(), FakeClock()), MemoryStore)


def test_naming_a_default_again_registers_it_once():
    kernel = load_kernel(requested=["memory_store", "memory_store"])

    assert kernel.names.count("memory_store") == 1


def test_an_unknown_plugin_is_an_error_listing_the_installed_ones():
    with pytest.raises(PluginError) as raised:
        load_kernel(requested=["no_such_plugin"])

    message = str(raised.value)
    assert "unknown plugin 'no_such_plugin'" in message
    assert f"installed plugins: {', '.join(sorted(installed_plugins()))}" in message
    assert "memory_store" in message


def test_switching_off_an_unknown_plugin_is_an_error():
    with pytest.raises(
        PluginError, match=r"unknown plugin 'nope'; installed plugins: .*memory_store"
    ):
        load_kernel(disabled=["nope"])


def test_without_a_store_the_store_cannot_be_resolved():
    kernel = load_kernel(disabled=["memory_store"])

    assert "memory_store" not in kernel.names
    with pytest.raises(PluginError, match=r"no store plugin is enabled.*--plugin memory_store"):
        kernel.store(Config(), FakeClock())


def test_naming_a_store_replaces_the_memory_store(install: Install):
    two_stores(install)
    kernel = load_kernel(requested=["store_a"])

    assert "store_a" in kernel.names
    assert "memory_store" not in kernel.names
    store = kernel.store(Config(), FakeClock())
    assert store is sys.modules["fake_store_a"].MADE[-1]


def test_naming_two_stores_is_an_error(install: Install):
    two_stores(install)
    assert {"store_a", "store_b"} <= installed_plugins().keys()

    with pytest.raises(PluginError, match="only one store plugin can run; named: store_a, store_b"):
        load_kernel(requested=["store_a", "store_b"])


def test_a_plugin_that_fails_to_import_is_named(install: Install):
    install(
        "fake-broken",
        modules={"fake_broken": "raise ImportError('needs libfoo')\n"},
        plugins={"broken": "fake_broken"},
    )

    with pytest.raises(PluginError) as raised:
        load_kernel(requested=["broken"])

    message = str(raised.value)
    assert message.startswith("plugin 'broken' (fake_broken) failed to import")
    assert "needs libfoo" in message
    assert f"installed plugins: {', '.join(sorted(installed_plugins()))}" in message
    assert "broken" in installed_plugins()
    assert isinstance(raised.value.__cause__, ImportError)


def test_a_misspelled_hook_fails_loudly():
    with pytest.raises(PluginError, match="faktory_core_make_stor"):
        load_kernel(plugins=[("typo", MisspelledStore())])


def test_plugins_given_as_objects_skip_the_entry_points():
    recorder = Recorder("rec")
    kernel = load_kernel(plugins=[("rec", recorder)])

    assert kernel.names == [*BUILTINS, "rec"]


# -- firstresult factories -----------------------------------------------------------------------


def test_the_built_in_retry_policy_answers_when_nobody_else_does():
    assert isinstance(load_kernel(plugins=[]).retry_policy(Config()), FaktoryRetryPolicy)


def test_a_plugin_retry_policy_overrides_the_built_in(serve, connect):
    kernel = load_kernel(plugins=[("dead", DeadPolicyPlugin())])
    assert isinstance(kernel.retry_policy(Config()), StraightToDead)

    running: Running = serve(("dead", DeadPolicyPlugin()))
    client: Client = connect(running)
    job = make_job(retry=25)
    client.push(job)
    client.fail(client.fetch()["jid"])

    assert running.call(running.store.set_size, SortedSet.RETRIES) == 0
    [entry] = running.call(running.store.set_page, SortedSet.DEAD, 0, 10)
    assert entry.job.jid == job["jid"]


def test_a_plugin_authenticator_overrides_password_auth(serve, stack: ExitStack):
    running: Running = serve(("only", OnlyWidPlugin("good-worker")))

    def hello(**fields: str) -> tuple[Reply, Client]:
        client = Client.connect(running.port)
        stack.callback(client.close)
        return client.hello(**fields), client

    reply, accepted = hello(wid="good-worker")
    assert reply == OK
    accepted.push(make_job())

    for fields in ({"wid": "someone-else"}, {}):
        reply, refused = hello(**fields)
        assert reply == error("ERR", "Invalid password")
        assert refused.closed_by_peer()


# -- the hot path --------------------------------------------------------------------------------


class NoPluggy:
    """Stands in for the plugin manager's hook relay: any hook call is a failure."""

    def __getattr__(self, name: str) -> object:
        raise AssertionError(f"pluggy was called on the hot path: {name}")


def test_commands_do_not_go_through_pluggy(serve, connect, monkeypatch: pytest.MonkeyPatch):
    recorder = Recorder("rec")
    running: Running = serve(("rec", recorder), ("echo", Echo()))
    server = running.thread.server
    assert server is not None
    done, broken = make_job("Done"), make_job("Broken", retry=1)

    with monkeypatch.context() as patch:
        patch.setattr(server.kernel.pm, "hook", NoPluggy())
        with pytest.raises(AssertionError, match="pluggy was called"):
            server.kernel.retry_policy(Config())  # the patch is in place

        client: Client = connect(running, wid="w1")
        client.push(done)
        client.push(broken)
        client.ack(client.fetch()["jid"])
        client.fail(client.fetch()["jid"])
        assert client.command("ECHO", "still", "here") == SimpleString("still here")
        assert client.json_command("BEAT", {"wid": "w1"}) == OK

    assert [step for step in ("push", "fetch", "ack", "fail") if recorder.calls(step)] == [
        "push",
        "fetch",
        "ack",
        "fail",
    ]
    stats = running.call(running.store.stats)
    assert (stats.processed, stats.failures, stats.retries) == (2, 1, 1)


def test_the_hookspecs_module_is_the_one_the_kernel_uses():
    kernel = load_kernel(plugins=[])
    specified = {name for name in dir(hookspecs) if name.startswith(hookspecs.PROJECT + "_")}

    assert specified == {name for name in vars(kernel.pm.hook) if not name.startswith("_")}
