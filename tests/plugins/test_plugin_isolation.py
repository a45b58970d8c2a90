"""Plugins talk to each other only through the core: no module of ``plugins/X`` imports
``faktory_core.plugins.Y`` for another plugin Y (read from the source, by AST)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PLUGINS = Path(__file__).resolve().parents[2] / "plugins"
PREFIX = "faktory_core.plugins."


def plugin_folders() -> list[Path]:
    return sorted(p for p in PLUGINS.iterdir() if (p / "__init__.py").is_file())


def imported_modules(source: Path) -> list[tuple[int, str]]:
    """Every module an ``import`` or ``from … import`` names (with ``from faktory_core.plugins
    import cron`` counted as ``faktory_core.plugins.cron``)."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"), str(source))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
            if node.module == PREFIX.rstrip("."):
                found += [(node.lineno, PREFIX + alias.name) for alias in node.names]
    return found


def foreign_imports(folder: Path) -> list[str]:
    own = folder.name
    wrong = []
    for source in sorted(folder.rglob("*.py")):
        for line, module in imported_modules(source):
            if module.startswith(PREFIX) and module[len(PREFIX) :].split(".")[0] != own:
                where = source.relative_to(folder.parent)
                wrong.append(f"{where}:{line} imports {module}")
    return wrong


def test_every_plugin_folder_is_checked() -> None:
    assert {p.name for p in plugin_folders()} >= {"cron", "webui", "memory_store", "redis_store"}


@pytest.mark.parametrize("folder", plugin_folders(), ids=lambda p: p.name)
def test_no_plugin_imports_another_plugin(folder: Path) -> None:
    assert foreign_imports(folder) == []


def test_the_check_finds_a_foreign_import(tmp_path: Path) -> None:
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "__init__.py").write_text("")
    (folder / "web.py").write_text(
        "from faktory_core.plugins.webui.helpers import link\n"
        "from faktory_core.plugins import cron\n"
        "from faktory_core.plugins.mine import web\n"
        "import faktory_core.plugins.redis_store.keys\n"
    )
    assert foreign_imports(folder) == [
        "mine/web.py:1 imports faktory_core.plugins.webui.helpers",
        "mine/web.py:2 imports faktory_core.plugins.cron",
        "mine/web.py:4 imports faktory_core.plugins.redis_store.keys",
    ]
