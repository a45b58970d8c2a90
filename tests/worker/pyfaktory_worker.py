"""A pyfaktory (0.2.13) worker, run as a subprocess by test_interop.py.

Usage: ``python pyfaktory_worker.py URL OUTPUT_FILE QUEUE``. The ``record`` job appends one JSON
line ``{"jid": ..., "args": [...]}`` to OUTPUT_FILE per run. SIGTERM stops it (pyfaktory turns
it into KeyboardInterrupt).
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any


def record(jid: str, *args: Any) -> None:
    line = json.dumps({"jid": jid, "args": list(args)}) + "\n"
    # One write on an O_APPEND descriptor: lines from concurrent job processes never interleave.
    fd = os.open(sys.argv[2], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)


def main() -> None:
    import pyfaktory

    url, queue = sys.argv[1], sys.argv[3]
    # beat_period=1: the heartbeat thread sleeps that long between beats, which bounds exit time.
    client = pyfaktory.Client(
        faktory_url=url, role="consumer", worker_id=f"pyfaktory-{os.getpid()}", beat_period=1
    )
    client.connect()
    consumer = pyfaktory.Consumer(client=client, queues=[queue], concurrency=4, grace_period=2)
    consumer.register("record", record, bind=True)
    try:
        consumer.run()
    finally:
        client.disconnect()


if __name__ == "__main__":
    main()
