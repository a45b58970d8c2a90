"""The server's environment variables and the flags added for them, through the real command:
FAKTORY_LICENSE (accepted, noted once), FAKTORY_MAX_CONNECTIONS / --max-connections, -w off."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from faktory_core.settings import WEB_OFF, ConfigError, build_config
from faktory_core.testing import FwpSocket

EXECUTABLE = Path(sys.executable).parent / "faktory-core"
WAIT = 20.0  # seconds; every wait below is bounded by this
LICENSE_NOTE = (
    "FAKTORY_LICENSE is set; faktory-core needs no license (every feature is included), so it "
    "is not used"
)


class Running:
    """``faktory-core -b 127.0.0.1:0`` in ``tmp``; its port is read from the store's INFO."""

    def __init__(self, tmp: Path, env: dict[str, str], *flags: str) -> None:
        self.log = tmp / "server.log"
        base = {k: v for k, v in os.environ.items() if not k.startswith("FAKTORY_")}
        argv = [str(EXECUTABLE), "-b", "127.0.0.1:0", "-d", str(tmp / "db"), "-c", str(tmp)]
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                [*argv, *flags],
                env={**base, "HOME": str(tmp), **env},
                stdin=subprocess.DEVNULL, stdout=out, stderr=out,
            )  # fmt: skip

    def wait_for(self, text: str) -> str:
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            log = self.log.read_text(errors="replace")
            if text in log:
                return log
            if self.proc.poll() is not None:
                pytest.fail(f"faktory-core exited ({self.proc.returncode}):\n{log}")
            time.sleep(0.05)
        pytest.fail(f"no {text!r} in:\n{self.log.read_text(errors='replace')}")

    def port(self) -> int:
        """The FWP port it bound (``-b 127.0.0.1:0``): its listening socket, read in /proc."""
        self.wait_for("listening on")
        inodes = {
            os.readlink(f"/proc/{self.proc.pid}/fd/{fd}")
            for fd in os.listdir(f"/proc/{self.proc.pid}/fd")
        }
        for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state == "0A" and f"socket:[{inode}]" in inodes and local.startswith("0100007F"):
                return int(local.split(":")[1], 16)
        pytest.fail("the server's listening socket was not found")

    def stop(self) -> int:
        self.proc.terminate()
        return self.proc.wait(WAIT)


@pytest.fixture
def start(tmp_path: Path) -> Iterator[type[Running]]:
    started: list[Running] = []

    class Started(Running):
        def __init__(self, env: dict[str, str], *flags: str) -> None:
            super().__init__(tmp_path, env, *flags)
            started.append(self)

    yield Started  # type: ignore[misc]
    for server in started:
        if server.proc.poll() is None:
            server.proc.kill()
            server.proc.wait(WAIT)


@pytest.mark.parametrize("environment", ["development", "production"])
def test_faktory_license_is_accepted_and_noted_once(start: type[Running], environment: str) -> None:
    env = {"FAKTORY_LICENSE": "ent-123abc", "FAKTORY_ENV": environment, "FAKTORY_PASSWORD": "pw"}
    server = start(env, "-w", ":0")
    log = server.wait_for("listening on")
    assert log.count(LICENSE_NOTE) == 1
    assert "ent-123abc" not in log
    conn = FwpSocket.open(server.port(), password="pw")
    assert "faktory" in conn.bulk_json("INFO")
    conn.close()
    assert server.stop() == 0


def test_without_faktory_license_nothing_is_said(start: type[Running]) -> None:
    server = start({}, "-w", ":0")
    assert "FAKTORY_LICENSE" not in server.wait_for("listening on")
    assert server.stop() == 0


@pytest.mark.parametrize(
    ("env", "flags"),
    [({"FAKTORY_MAX_CONNECTIONS": "1"}, ()), ({}, ("--max-connections", "1"))],
    ids=["environment", "flag"],
)
def test_max_connections_from_the_environment_or_the_flag(
    start: type[Running], env: dict[str, str], flags: tuple[str, ...]
) -> None:
    server = start(env, "-w", ":0", *flags)
    port = server.port()
    first = FwpSocket.open(port)
    try:
        with pytest.raises(ConnectionError, match="too many connections"):
            FwpSocket.open(port).close()
        assert "faktory" in first.bulk_json("INFO")  # the first one still works
    finally:
        first.close()
    assert server.stop() == 0


def test_a_bad_max_connections_stops_the_start_with_one_line(start: type[Running]) -> None:
    server = start({"FAKTORY_MAX_CONNECTIONS": "lots"}, "-w", ":0")
    assert server.proc.wait(WAIT) == 1
    assert server.log.read_text() == (
        "faktory-core: FAKTORY_MAX_CONNECTIONS must be a positive integer, not 'lots'\n"
    )


@pytest.mark.parametrize("value", ["off", "OFF", ":0", "none"])
def test_w_off_turns_the_web_ui_off(start: type[Running], value: str) -> None:
    server = start({}, "-w", value)
    log = server.wait_for("listening on")
    assert "web UI off (-w :0)" in log
    assert "web UI on" not in log
    assert server.stop() == 0


def test_w_host_port_0_asks_for_a_free_port(start: type[Running]) -> None:
    server = start({}, "-w", "127.0.0.1:0")
    log = server.wait_for("web UI on")
    assert re.search(r"web UI on http://127\.0\.0\.1:[1-9]\d*", log), log
    assert server.stop() == 0


# -- precedence, in process ---------------------------------------------------------------------


def test_max_connections_precedence(tmp_path: Path) -> None:
    (tmp_path / "conf.d").mkdir()
    (tmp_path / "conf.d" / "a.toml").write_text("[faktory]\nmax_connections = 30\n")
    env = {"HOME": str(tmp_path)}
    argv = ["-c", str(tmp_path)]
    assert build_config(argv, env).max_connections == 30
    assert build_config(argv, {**env, "FAKTORY_MAX_CONNECTIONS": "20"}).max_connections == 20
    flagged = [*argv, "--max-connections", "10"]
    assert build_config(flagged, {**env, "FAKTORY_MAX_CONNECTIONS": "20"}).max_connections == 10
    assert build_config([], env).max_connections == 2000


@pytest.mark.parametrize("raw", ["0", "-3", "ten", "1.5"])
def test_max_connections_flag_must_be_positive(tmp_path: Path, raw: str) -> None:
    with pytest.raises(
        ConfigError, match=f"--max-connections must be a positive integer, not {raw!r}"
    ):
        build_config([f"--max-connections={raw}"], {"HOME": str(tmp_path)})


def test_web_binding_off_in_toml(tmp_path: Path) -> None:
    (tmp_path / "conf.d").mkdir()
    (tmp_path / "conf.d" / "web.toml").write_text('[web]\nbinding = "off"\n')
    assert build_config(["-c", str(tmp_path)], {"HOME": str(tmp_path)}).web_binding == WEB_OFF
