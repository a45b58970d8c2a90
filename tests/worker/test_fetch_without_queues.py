"""FETCH with no queue names, on the wire (found by protocol fuzzing against Faktory 1.10):
Faktory looks at the worker's state first, so a quiet or terminated worker waits out the fetch
block and gets ``$-1``; a running worker (or a producer) gets the error at once."""

from __future__ import annotations

from typing import Any

import faktory_core_client_test_support as support  # type: ignore[import-not-found]
import pytest

from faktory_core.errors import messages
from faktory_core.protocol import Bulk, ErrorReply
from faktory_core.testing import FwpSocket


def worker_socket(port: int, wid: str) -> FwpSocket:
    return FwpSocket.open(port, wid=wid, hostname="box", pid=1, labels=["python"])


@support.every_store
@pytest.mark.parametrize("state", ["quiet", "terminate"])
def test_a_quiet_or_terminated_worker_gets_null(server: Any, state: str) -> None:
    conn = worker_socket(server.port, "w-" + state)
    try:
        beat = conn.json_command("BEAT", {"wid": "w-" + state, "current_state": state})
        assert beat is not None
        assert conn.command("FETCH") == Bulk(None)
        assert conn.bulk_json("INFO")  # the connection goes on
    finally:
        conn.close()


@pytest.mark.parametrize("wid", ["w-running", None])
def test_a_running_worker_or_a_producer_gets_the_error(server: Any, wid: str | None) -> None:
    conn = worker_socket(server.port, wid) if wid else FwpSocket.open(server.port)
    try:
        reply = conn.command("FETCH")
        assert isinstance(reply, ErrorReply)
        assert reply.message == messages.FETCH_NO_QUEUE
    finally:
        conn.close()
