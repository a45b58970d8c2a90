"""Fixtures for the cron tests: a fake clock half a minute past a round hour, a memory store."""

from __future__ import annotations

import pytest

from faktory_core.plugins.memory_store import MemoryStore
from faktory_core.testing import FakeClock

from .support import START


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


@pytest.fixture
def store(clock: FakeClock) -> MemoryStore:
    return MemoryStore(clock)
