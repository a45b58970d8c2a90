"""Fixtures: ``ui`` (the web UI over a fresh server, per store) and ``make_ui(**config)``."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import pytest

from .support import STORES, Ui, ui_for


@pytest.fixture(params=STORES)
def store_kind(request: pytest.FixtureRequest) -> str:
    kind: str = request.param
    return kind


@pytest.fixture
async def make_ui(store_kind: str, tmp_path: Path) -> AsyncIterator[Callable[..., Any]]:
    """``await make_ui(web_password=..., plugins=[...])`` → a :class:`Ui`, closed at teardown."""
    async with AsyncExitStack() as stack:
        count = 0

        async def make(**config: Any) -> Ui:
            nonlocal count
            count += 1
            folder = tmp_path / f"ui{count}"
            return await stack.enter_async_context(ui_for(store_kind, folder, **config))

        yield make


@pytest.fixture
async def ui(make_ui: Callable[..., Any]) -> Ui:
    made: Ui = await make_ui()
    return made
