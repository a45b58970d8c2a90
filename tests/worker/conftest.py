"""Fixtures for the worker tests: a real faktory-core per test, over every store in
tests/client/support.py's STORES (shared with the client tests)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType


def load_support() -> ModuleType:
    """tests/client/support.py as one shared module (tests/ is not a package)."""
    name = "faktory_core_client_test_support"
    if name not in sys.modules:
        path = Path(__file__).resolve().parent.parent / "client" / "support.py"
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


support = load_support()
store_name = support.store_name
make_server = support.make_server
server = support.server
server_process = support.server_process
