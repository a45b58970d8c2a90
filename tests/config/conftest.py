"""Fixtures for the configuration tests: a private HOME, a config dir and a conf.d writer."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

WriteConf = Callable[[str, str], Path]


@pytest.fixture
def environ(tmp_path: Path) -> dict[str, str]:
    """An environment with only HOME set (to a fresh directory): no FAKTORY_* variables."""
    home = tmp_path / "home"
    home.mkdir()
    return {"HOME": str(home)}


@pytest.fixture
def conf(tmp_path: Path) -> Path:
    """A config directory (for ``-c``) with an empty conf.d."""
    path = tmp_path / "conf"
    (path / "conf.d").mkdir(parents=True)
    return path


@pytest.fixture
def write_conf(conf: Path) -> WriteConf:
    """``write_conf(name, text)`` writes ``<conf>/conf.d/<name>`` exactly as given."""

    def write(name: str, text: str) -> Path:
        path = conf / "conf.d" / name
        path.write_text(text, encoding="utf-8")
        return path

    return write
