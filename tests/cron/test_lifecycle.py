"""Start, reload and the sources of entries: a bad schedule stops the start with a clear
message; SIGHUP re-reads conf.d and keeps the old schedule when the new one is bad; the
environment is read at start only; other plugins contribute entries through the hook."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import anyio
import pytest

from faktory_core import cli
from faktory_core.clock import FakeClock
from faktory_core.config import Config
from faktory_core.hookspecs import hookimpl
from faktory_core.plugins.cron import CronPlugin
from faktory_core.plugins.cron.entries import ENV_BASE64, ENV_TOML
from faktory_core.plugins.memory_store import MemoryStore
from faktory_core.settings import build_config

from .support import MINUTE, cron_server, every_minute, queued, scheduler, start_fails

EXE = Path(sys.executable).with_name("faktory-core")
GOOD = '[[cron]]\nname = "minutely"\nschedule = "* * * * *"\n[cron.job]\ntype = "Minutely"\n'
HOURLY = '[[cron]]\nname = "hourly"\nschedule = "@hourly"\n[cron.job]\ntype = "Hourly"\n'
BAD_SCHEDULE = '[[cron]]\nname = "broken"\nschedule = "* * *"\n[cron.job]\ntype = "Broken"\n'


class ConfDir:
    """A config directory whose conf.d the test writes, and the config read from it."""

    def __init__(self, root: Path) -> None:
        self.root = root
        (root / "conf.d").mkdir(parents=True, exist_ok=True)
        self.argv = ["-c", str(root)]
        self.environ = {"HOME": str(root)}

    def write(self, name: str, text: str) -> Path:
        path = self.root / "conf.d" / name
        path.write_text(text)
        return path

    def settings(self) -> dict[str, Any]:
        """What running_server needs of the config built from this directory."""
        config = build_config(self.argv, self.environ)
        return {"config_dir": config.config_dir, "cron": config.cron, "toml": config.toml}


@pytest.fixture
def conf(tmp_path: Path) -> ConfDir:
    return ConfDir(tmp_path / "etc")


# -- start ---------------------------------------------------------------------------------------


async def test_a_bad_entry_stops_the_start(
    conf: ConfDir, store: MemoryStore, clock: FakeClock
) -> None:
    conf.write("a.toml", GOOD)
    bad = conf.write("b.toml", BAD_SCHEDULE)
    error = await start_fails(store, clock, **conf.settings())
    assert str(error) == (
        "bad cron schedule:\n"
        f"  {bad}: [[cron]] #1 \"broken\": schedule: '* * *' has 3 fields; expected 5 "
        "(minute hour day-of-month month day-of-week) or a name such as @hourly"
    )
    assert await store.queue_size("default") == 0  # not even the good entry ran


async def test_a_bad_variable_stops_the_start(store: MemoryStore, clock: FakeClock) -> None:
    environ = {ENV_BASE64: "%%%"}
    error = await start_fails(store, clock, [{"schedule": "@daily"}], environ=environ)
    # Every problem of every source at once: the variable's, then conf.d's.
    assert len(error.problems) == 2
    assert error.problems[0].startswith(f"{ENV_BASE64}: not valid base64")
    assert error.problems[1].endswith(
        "conf.d: [[cron]] #1: job: is missing (a [cron.job] table with at least type)"
    )


def test_the_command_refuses_to_start_with_a_bad_entry(tmp_path: Path) -> None:
    conf = ConfDir(tmp_path / "etc")
    bad = conf.write("cron.toml", BAD_SCHEDULE)
    env = {k: v for k, v in os.environ.items() if not k.startswith("FAKTORY_")}
    env["HOME"] = str(tmp_path)
    args = ["-c", str(conf.root), "-d", str(tmp_path / "db"), "-b", "127.0.0.1:0", "-w", ":0"]
    done = subprocess.run(
        [str(EXE), *args, "--plugin", "cron"], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 1, done.stderr
    assert "cannot start: bad cron schedule:" in done.stderr
    assert f"{bad}: [[cron]] #1 \"broken\": schedule: '* * *' has 3 fields" in done.stderr


# -- the environment -----------------------------------------------------------------------------

ENV_ENTRY = '[[cron]]\nname = "env"\nschedule = "*/2 * * * *"\n[cron.job]\ntype = "FromEnv"\n'


@pytest.mark.parametrize("variable", [ENV_TOML, ENV_BASE64])
async def test_entries_from_the_environment_run(
    variable: str, store: MemoryStore, clock: FakeClock
) -> None:
    import base64

    value = ENV_ENTRY if variable == ENV_TOML else base64.b64encode(ENV_ENTRY.encode()).decode()
    async with cron_server(store, clock, environ={variable: value}) as server:
        await clock.advance(4 * MINUTE, step=1.0)
        [entry] = scheduler(server).entries
        assert entry.source == f'{variable}: [[cron]] #1 "env"'
    assert [job.jobtype for job in await queued(store)] == ["FromEnv"] * 3  # 15:00, :02, :04


async def test_the_environment_is_read_at_start_only(
    conf: ConfDir, store: MemoryStore, clock: FakeClock
) -> None:
    environ = {ENV_TOML: ENV_ENTRY}
    conf.write("a.toml", HOURLY)
    async with cron_server(store, clock, environ=environ, **conf.settings()) as server:
        environ[ENV_TOML] = "this would not parse"
        conf.write("a.toml", GOOD)
        assert await cli.reload(server, conf.argv, conf.environ)
        await anyio.sleep(0.01)
        names = [entry.name for entry in scheduler(server).entries]
        assert names == ["minutely", "env"]


# -- reload ------------------------------------------------------------------------------------


async def test_reload_applies_a_new_schedule(
    conf: ConfDir, store: MemoryStore, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    conf.write("a.toml", HOURLY)
    caplog.set_level(logging.INFO, "faktory_core")
    async with cron_server(store, clock, **conf.settings()) as server:
        running = scheduler(server)
        conf.write("a.toml", GOOD)
        assert await cli.reload(server, conf.argv, conf.environ)
        await anyio.sleep(0.01)  # the loop wakes at once and takes the new list
        assert [entry.name for entry in running.entries] == ["minutely"]
        assert running.wait_seconds(clock.now()) == 30.0  # recomputed: the next minute
        await clock.advance(2 * MINUTE, step=1.0)
    # hourly fired 15:00 at start; minutely fired from its first tick after the reload on.
    assert [job.jobtype for job in await queued(store)] == ["Hourly", "Minutely", "Minutely"]
    assert "cron: schedule reloaded, 1 entry" in caplog.text


async def test_reload_with_a_bad_entry_keeps_the_old_schedule(
    conf: ConfDir, store: MemoryStore, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    conf.write("a.toml", GOOD)
    async with cron_server(store, clock, **conf.settings()) as server:
        running = scheduler(server)
        bad = conf.write("b.toml", BAD_SCHEDULE)
        assert await cli.reload(server, conf.argv, conf.environ)  # the conf.d itself is valid
        await clock.advance(2 * MINUTE, step=1.0)
        assert [entry.name for entry in running.entries] == ["minutely"]
    assert [job.jobtype for job in await queued(store)] == ["Minutely"] * 3
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1
    assert errors[0].startswith(
        "cron: schedule not reloaded, keeping the previous one (1 entry): "
        f'bad cron schedule:\n  {bad}: [[cron]] #1 "broken": schedule:'
    )


async def test_reload_with_a_broken_file_keeps_the_old_schedule(
    conf: ConfDir, store: MemoryStore, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    conf.write("a.toml", GOOD)
    async with cron_server(store, clock, **conf.settings()) as server:
        broken = conf.write("a.toml", GOOD + "[[cron]\n")
        assert not await cli.reload(server, conf.argv, conf.environ)
        await clock.advance(MINUTE, step=1.0)
        assert [entry.name for entry in scheduler(server).entries] == ["minutely"]
    assert await store.queue_size("default") == 2
    assert f"keeping the previous one: {broken}:" in caplog.text


# -- entries from other plugins ---------------------------------------------------------------


class Contributor:
    def __init__(self, entries: Sequence[Any]) -> None:
        self.entries = entries

    @hookimpl
    def faktory_core_cron_entries(self, config: Config) -> Sequence[Any]:
        return self.entries


async def test_plugins_contribute_entries(store: MemoryStore, clock: FakeClock) -> None:
    contributed = [{"name": "from-plugin", "schedule": "*/5 * * * *", "job": {"type": "Plug"}}]
    plugins = [("contributor", Contributor(contributed))]
    async with cron_server(store, clock, [every_minute()], plugins=plugins) as server:
        assert [entry.source for entry in scheduler(server).entries][1] == (
            'faktory_core_cron_entries: [[cron]] #1 "from-plugin"'
        )
        await clock.advance(5 * MINUTE, step=1.0)
    assert sorted(job.jobtype for job in await queued(store)).count("Plug") == 2


async def test_a_bad_contributed_entry_is_named(store: MemoryStore, clock: FakeClock) -> None:
    plugins = [("contributor", Contributor([{"schedule": "@daily", "job": {"type": 1}}]))]
    error = await start_fails(store, clock, plugins=plugins)
    assert error.problems == (
        "faktory_core_cron_entries: [[cron]] #1: job.type: is missing or empty "
        "(the job type workers run)",
    )


async def test_the_entry_point_module_runs_the_same_plugin(
    store: MemoryStore, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    import faktory_core.plugins.cron as module

    monkeypatch.delenv(ENV_TOML, raising=False)
    monkeypatch.delenv(ENV_BASE64, raising=False)
    assert CronPlugin is module.CronPlugin
    async with cron_server(store, clock, [every_minute()], plugin=None) as server:
        assert module.scheduler_for(server) is None  # the test registered its own instance
    from faktory_core.testing import running_server

    async with running_server(
        store, clock=clock, plugins=[("cron", module)], cron=(every_minute(),)
    ) as server:
        found = module.scheduler_for(server)
        assert found is not None
        assert len(found.entries) == 1
    assert module.scheduler_for(server) is None
