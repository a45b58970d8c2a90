"""Find a Chromium for the browser tests, and get one when there is none.

The README's test command must pass on a fresh machine with nothing installed by hand, so the
browser tests look where a user would expect a Chromium — Debian's ``/usr/bin/chromium`` or
``/usr/bin/chromium-browser``, then Playwright's own browser cache — and when none is there they
get one: Debian's ``chromium`` package when running as root with apt, else
``playwright install chromium``. When that fails too, one message says which command to run.

The lookup places and the install commands are arguments, so the tests of this module point the
lookup at an empty directory and inject the installer instead of running apt.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import attrs

__all__ = [
    "ChromiumMissing",
    "Lookup",
    "default_lookup",
    "ensure_chromium",
    "install_commands",
]

#: Debian's and Ubuntu's names for the browser.
SYSTEM_PATHS = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
#: Playwright's browser cache when ``$PLAYWRIGHT_BROWSERS_PATH`` is not set.
PLAYWRIGHT_CACHE = "~/.cache/ms-playwright"
#: Executables inside the cache, newest layout first (``chromium-<rev>/chrome-linux64/chrome``).
CACHE_PATTERNS = (
    "chromium-*/chrome-linux*/chrome",
    "chromium_headless_shell-*/chrome-linux*/headless_shell",
)
APT_INSTALL = ("apt-get", "-o", "DPkg::Lock::Timeout=600", "install", "-y", "chromium")
APT_UPDATE = ("apt-get", "-o", "DPkg::Lock::Timeout=600", "update")
#: What a user without root runs, and what the failure message names.
PLAYWRIGHT_INSTALL = (sys.executable, "-m", "playwright", "install", "chromium")
#: The lines of an installer's output kept in the failure message.
OUTPUT_TAIL = 5

Runner = Callable[[Sequence[str]], "subprocess.CompletedProcess[str]"]


class ChromiumMissing(RuntimeError):
    """No Chromium, and getting one failed; the message names the command to run."""


@attrs.frozen
class Lookup:
    """Where a Chromium may be: system paths, then Playwright's cache folder."""

    system: tuple[Path, ...]
    cache: Path

    def find(self) -> Path | None:
        for path in self.system:
            if os.access(path, os.X_OK) and path.is_file():
                return path
        for pattern in CACHE_PATTERNS:
            for path in sorted(self.cache.glob(pattern), reverse=True):
                if os.access(path, os.X_OK):
                    return path
        return None

    def describe(self) -> str:
        return ", ".join([*map(str, self.system), f"{self.cache} (Playwright's cache)"])


def default_lookup(environ: Mapping[str, str] | None = None) -> Lookup:
    environ = os.environ if environ is None else environ
    cache = environ.get("PLAYWRIGHT_BROWSERS_PATH") or PLAYWRIGHT_CACHE
    return Lookup(tuple(Path(p) for p in SYSTEM_PATHS), Path(cache).expanduser())


def install_commands(*, is_root: bool, apt: str | None) -> list[tuple[str, ...]]:
    """Debian's package as root with apt (the system's libraries come with it), else
    Playwright's download into its cache."""
    if is_root and apt:
        return [APT_UPDATE, APT_INSTALL]
    return [PLAYWRIGHT_INSTALL]


def default_install_commands() -> list[tuple[str, ...]]:
    return install_commands(is_root=os.geteuid() == 0, apt=shutil.which("apt-get"))


def run_quietly(command: Sequence[str]) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    return subprocess.run(
        list(command), capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL
    )


def ensure_chromium(
    lookup: Lookup,
    commands: Sequence[Sequence[str]],
    *,
    run: Runner = run_quietly,
    say: Callable[[str], None] = lambda line: None,
) -> Path:
    """The Chromium the lookup finds; else run ``commands`` in order and look again."""
    found = lookup.find()
    if found is not None:
        return found
    for command in commands:
        say(f"no Chromium for the browser tests; running: {' '.join(command)}")
        try:
            result = run(command)
        except OSError as exc:
            raise ChromiumMissing(_missing(lookup, command, str(exc))) from None
        if result.returncode != 0:
            output = (result.stderr or result.stdout or "").strip().splitlines()[-OUTPUT_TAIL:]
            why = f"exit {result.returncode}: {' | '.join(output) or 'no output'}"
            raise ChromiumMissing(_missing(lookup, command, why))
    found = lookup.find()
    if found is None:
        last = commands[-1] if commands else ()
        raise ChromiumMissing(_missing(lookup, last, "it ran, yet no Chromium appeared"))
    return found


def _missing(lookup: Lookup, command: Sequence[str], why: str) -> str:
    tried = f"`{' '.join(command)}` failed ({why}). " if command else ""
    return (
        f"the browser tests need Chromium and none was found (looked at {lookup.describe()}). "
        f"{tried}Install one, then run the tests again: as root `apt-get install -y chromium` "
        f"(Debian/Ubuntu), or `{' '.join(PLAYWRIGHT_INSTALL)}`"
    )
