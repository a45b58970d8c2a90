"""Every ```python example in docs/worker.md runs against a real server given by FAKTORY_URL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import faktory_core_client_test_support as support  # type: ignore[import-not-found]
import pytest

DOC = Path(__file__).resolve().parents[2] / "docs" / "worker.md"
BLOCKS = support.python_blocks(DOC)


def test_the_page_has_examples() -> None:
    assert len(BLOCKS) >= 5


@pytest.mark.parametrize(("line", "code"), BLOCKS, ids=[f"line-{line}" for line, _ in BLOCKS])
def test_example(line: int, code: str, server: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKTORY_URL", server.url)
    monkeypatch.delenv("FAKTORY_PROVIDER", raising=False)
    support.run_example(DOC, line, code)
