from __future__ import annotations

import pytest


@pytest.fixture
def anyio_backend() -> str:
    # redis-py's asyncio client and uvicorn are asyncio-only; uvloop is asyncio too.
    return "asyncio"
