"""Packaging guards: every package folder is listed, and the plugins are registered."""

from __future__ import annotations

import tomllib
from importlib.metadata import entry_points
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def _packages_on_disk() -> set[str]:
    found = set()
    for top, name in (("core", "faktory_core"), ("plugins", "faktory_core.plugins")):
        for init in (ROOT / top).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT / top)
            found.add(".".join((name, *rel.parts)) if rel.parts else name)
    return found


def test_every_package_folder_is_listed() -> None:
    listed = set(PYPROJECT["tool"]["setuptools"]["packages"])
    assert _packages_on_disk() == listed


def test_package_dirs_map_core_and_plugins() -> None:
    assert PYPROJECT["tool"]["setuptools"]["package-dir"] == {
        "faktory_core": "core",
        "faktory_core.plugins": "plugins",
    }


def test_memory_store_is_an_entry_point() -> None:
    names = {ep.name: ep.value for ep in entry_points(group="faktory_core")}
    assert names["memory_store"] == "faktory_core.plugins.memory_store"


def test_console_script() -> None:
    assert PYPROJECT["project"]["scripts"] == {"faktory-core": "faktory_core.cli:main"}


def test_no_top_level_core_or_plugins_module() -> None:
    import importlib.util

    assert importlib.util.find_spec("core") is None
    assert importlib.util.find_spec("plugins") is None
