"""A Faktory worker built on one third-party PyPI client, run as a subprocess by the interop tests.

Usage::

    python worker.py {faktory|pyfaktory} URL OUTPUT_FILE [QUEUE]

It processes QUEUE (default ``default``) with the given client library. Two job types are
registered, both bound to the job's jid:

- ``record(*args)`` appends one JSON line ``{"jid": ..., "args": [...], "client": ...}`` to
  OUTPUT_FILE;
- ``explode(*args)`` appends the same line with ``"exploded": true`` and raises
  ``ValueError("boom: <first arg>")``, so the worker reports the job with FAIL.

SIGTERM stops the worker (both libraries turn it into a KeyboardInterrupt). Any connection error,
a refused password included, ends the process with a traceback and a non-zero exit status.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from typing import Any

CLIENT = sys.argv[1] if len(sys.argv) > 1 else ""
OUTPUT = sys.argv[3] if len(sys.argv) > 3 else ""


def _append(jid: str, args: tuple[Any, ...], **extra: Any) -> None:
    line = json.dumps({"jid": jid, "args": list(args), "client": CLIENT, **extra}) + "\n"
    # One write on an O_APPEND descriptor: lines from concurrent jobs never interleave.
    fd = os.open(OUTPUT, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)


def record(jid: str, *args: Any) -> None:
    _append(jid, args)


def explode(jid: str, *args: Any) -> None:
    _append(jid, args, exploded=True)
    raise ValueError(f"boom: {args[0] if args else ''}")


def run_faktory(url: str, queue: str) -> None:
    import faktory

    # Threads rather than the default process pool: the protocol traffic is the same.
    worker = faktory.Worker(
        faktory=url, queues=[queue], concurrency=4, use_threads=True, disconnect_wait=2
    )
    worker.register("record", record, bind=True)
    worker.register("explode", explode, bind=True)
    worker.run()


def run_pyfaktory(url: str, queue: str) -> None:
    import pyfaktory  # also installs a SIGTERM handler that raises KeyboardInterrupt

    # beat_period=1: the heartbeat thread is not a daemon and sleeps beat_period between beats,
    # so it bounds how long the process takes to exit once the consumer has stopped.
    client = pyfaktory.Client(
        faktory_url=url, role="consumer", worker_id=f"interop-{os.getpid()}", beat_period=1
    )
    client.connect()  # raises if the server refuses the password
    consumer = pyfaktory.Consumer(client=client, queues=[queue], concurrency=4, grace_period=2)
    consumer.register("record", record, bind=True)
    consumer.register("explode", explode, bind=True)
    try:
        consumer.run()  # ends with sys.exit(1) after SIGTERM
    finally:
        client.disconnect()  # END; stops the heartbeat thread


def main() -> None:
    if len(sys.argv) not in (4, 5) or CLIENT not in ("faktory", "pyfaktory"):
        sys.exit(__doc__)
    url, queue = sys.argv[2], sys.argv[4] if len(sys.argv) == 5 else "default"
    logging.basicConfig(
        level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(name)s %(message)s"
    )
    logging.getLogger("worker").info("starting %s worker on %s, queue %s", CLIENT, url, queue)
    if CLIENT == "faktory":
        run_faktory(url, queue)
    else:
        run_pyfaktory(url, queue)


if __name__ == "__main__":
    main()
