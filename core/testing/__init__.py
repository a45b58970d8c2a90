"""Test helpers for faktory-core and for third-party plugins: the fake clock, the store
contract suite (:mod:`faktory_core.testing.contract`) and an in-process server with a small
blocking FWP client (:mod:`faktory_core.testing.server`), and a way to stop child processes."""

from faktory_core.clock import FakeClock
from faktory_core.testing.contract import StoreContract
from faktory_core.testing.processes import stop_process
from faktory_core.testing.server import FwpSocket, ServerThread, running_server

__all__ = [
    "FakeClock",
    "FwpSocket",
    "ServerThread",
    "StoreContract",
    "running_server",
    "stop_process",
]
