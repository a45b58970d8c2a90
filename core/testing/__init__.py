"""Test helpers for faktory-core and for third-party plugins: the fake clock, the store
contract suite (:mod:`faktory_core.testing.contract`) and an in-process server."""

from faktory_core.clock import FakeClock
from faktory_core.testing.contract import StoreContract

__all__ = ["FakeClock", "StoreContract"]
