"""The public surface is deliberate: each module's ``__all__`` is exactly its public names
(httpx's tests/test_exported_members.py)."""

from __future__ import annotations

import ast
import importlib
import inspect
import logging
import types
from typing import TypeVar

import pytest

MODULES = [
    "faktory_core.client.clients",
    "faktory_core.client.commands",
    "faktory_core.client.connection",
    "faktory_core.client.errors",
    "faktory_core.client.info",
    "faktory_core.client.job",
    "faktory_core.client.pool",
    "faktory_core.client.settings",
    "faktory_core.worker.context",
    "faktory_core.worker.queues",
    "faktory_core.worker.registry",
    "faktory_core.worker.threads",
    "faktory_core.worker.worker",
    "faktory_core.worker_cli",
    "faktory_core.testing.jobs",
]
PACKAGES = ["faktory_core.client", "faktory_core.worker"]


def _defined_public_names(module: types.ModuleType) -> set[str]:
    """Names a module binds at top level (def, class, assignment), minus private names, module
    loggers and type variables."""
    tree = ast.parse(inspect.getsource(module))
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    return {
        name
        for name in names
        if not name.startswith("_")
        and name != "__all__"
        and not isinstance(getattr(module, name), logging.Logger | TypeVar)
    }


@pytest.mark.parametrize("name", MODULES)
def test_all_is_exactly_the_public_names(name: str) -> None:
    module = importlib.import_module(name)
    assert sorted(module.__all__) == sorted(_defined_public_names(module))


@pytest.mark.parametrize("name", PACKAGES)
def test_packages_export_what_they_import(name: str) -> None:
    package = importlib.import_module(name)
    public = {
        attr
        for attr, value in vars(package).items()
        if not attr.startswith("_") and not isinstance(value, types.ModuleType)
    }
    assert sorted(package.__all__) == sorted(public)
    for attr in package.__all__:
        assert getattr(package, attr) is not None
