"""Getting a Chromium on a machine without one: the lookup points at an empty directory, the
installer is injected (a real subprocess, never apt)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest

from tests.browser.chromium import (
    APT_INSTALL,
    APT_UPDATE,
    PLAYWRIGHT_INSTALL,
    ChromiumMissing,
    Lookup,
    default_lookup,
    ensure_chromium,
    install_commands,
    run_quietly,
)


def empty_lookup(root: Path) -> Lookup:
    return Lookup((root / "usr/bin/chromium", root / "usr/bin/chromium-browser"), root / "cache")


def make_executable(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\necho Chromium 1.2.3\n")
    path.chmod(0o755)
    return path


class Recorder:
    """Runs nothing: records each command and answers with a chosen exit code."""

    def __init__(self, returncode: int = 0, stderr: str = "") -> None:
        self.commands: list[tuple[str, ...]] = []
        self.returncode = returncode
        self.stderr = stderr

    def __call__(self, command: Sequence[str]) -> subprocess.CompletedProcess[str]:
        self.commands.append(tuple(command))
        return subprocess.CompletedProcess(command, self.returncode, "", self.stderr)


def test_root_with_apt_installs_debians_package() -> None:
    assert install_commands(is_root=True, apt="/usr/bin/apt-get") == [APT_UPDATE, APT_INSTALL]
    assert APT_INSTALL[-3:] == ("install", "-y", "chromium")


@pytest.mark.parametrize(("is_root", "apt"), [(False, "/usr/bin/apt-get"), (True, None)])
def test_otherwise_playwright_downloads_one(is_root: bool, apt: str | None) -> None:
    assert install_commands(is_root=is_root, apt=apt) == [PLAYWRIGHT_INSTALL]
    assert PLAYWRIGHT_INSTALL[1:] == ("-m", "playwright", "install", "chromium")


def test_a_system_chromium_is_used_and_nothing_runs(tmp_path: Path) -> None:
    lookup = empty_lookup(tmp_path)
    browser = make_executable(tmp_path / "usr/bin/chromium-browser")
    recorder = Recorder()
    assert ensure_chromium(lookup, [APT_INSTALL], run=recorder) == browser
    assert recorder.commands == []


def test_playwrights_cache_is_searched(tmp_path: Path) -> None:
    lookup = empty_lookup(tmp_path)
    browser = make_executable(tmp_path / "cache/chromium-1187/chrome-linux/chrome")
    assert ensure_chromium(lookup, [], run=Recorder()) == browser


def test_playwright_browsers_path_moves_the_cache(tmp_path: Path) -> None:
    lookup = default_lookup({"PLAYWRIGHT_BROWSERS_PATH": str(tmp_path)})
    assert lookup.cache == tmp_path
    assert Path("/usr/bin/chromium") in lookup.system


def test_an_empty_machine_runs_the_installer_and_uses_what_it_installed(tmp_path: Path) -> None:
    """The injected installer is a real process that puts a browser where the lookup looks."""
    lookup = empty_lookup(tmp_path)
    target = tmp_path / "cache/chromium_headless_shell-1187/chrome-linux/headless_shell"
    script = (
        "import pathlib, sys; p = pathlib.Path(sys.argv[1]); p.parent.mkdir(parents=True); "
        "p.write_text('#!/bin/sh\\n'); p.chmod(0o755)"
    )
    installer = (sys.executable, "-c", script, str(target))
    said: list[str] = []
    assert ensure_chromium(lookup, [installer], run=run_quietly, say=said.append) == target
    assert said == [f"no Chromium for the browser tests; running: {' '.join(installer)}"]


def test_a_failing_installer_fails_with_the_command_to_run(tmp_path: Path) -> None:
    lookup = empty_lookup(tmp_path)
    recorder = Recorder(100, "E: Unable to locate package chromium\n")
    with pytest.raises(ChromiumMissing) as raised:
        ensure_chromium(lookup, [APT_UPDATE, APT_INSTALL], run=recorder)
    assert recorder.commands == [APT_UPDATE]  # stops at the first failure
    message = str(raised.value)
    assert str(tmp_path / "usr/bin/chromium") in message
    assert "Playwright's cache" in message
    assert "exit 100: E: Unable to locate package chromium" in message
    assert "apt-get install -y chromium" in message
    assert " ".join(PLAYWRIGHT_INSTALL) in message


def test_an_installer_that_cannot_start_fails_with_the_command_to_run(tmp_path: Path) -> None:
    lookup = empty_lookup(tmp_path)
    missing = (str(tmp_path / "no-such-installer"),)
    with pytest.raises(ChromiumMissing, match="no-such-installer` failed"):
        ensure_chromium(lookup, [missing])


def test_an_installer_that_succeeds_without_a_browser_still_fails(tmp_path: Path) -> None:
    lookup = empty_lookup(tmp_path)
    with pytest.raises(ChromiumMissing, match="yet no Chromium appeared"):
        ensure_chromium(lookup, [(sys.executable, "-c", "pass")])
