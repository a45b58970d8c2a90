"""``faktory-core worker myapp.jobs:worker``: run the Worker an application module defines.

``run(argv)`` takes the arguments after ``worker``. The target is ``module:attribute`` where the
attribute is a :class:`~faktory_core.worker.Worker` or a callable returning one; the current
directory is importable, as with gunicorn or celery. The server comes from ``--url`` or, as
everywhere, FAKTORY_PROVIDER / FAKTORY_URL. Options given here override the Worker's own.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Sequence

from faktory_core.client.errors import ClientError
from faktory_core.worker import StartupError, Worker
from faktory_core.worker.handles import check_timeout
from faktory_core.worker.queues import queue_order
from faktory_core.worker.worker import LOG_FORMAT

__all__ = ["TargetError", "load_worker", "run"]

log = logging.getLogger("faktory_core.worker")


class TargetError(Exception):
    """The ``module:attribute`` target cannot be loaded or is not a Worker."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="faktory-core worker", description="Run a faktory-core worker for an application."
    )
    parser.add_argument("target", help="module:attribute naming a Worker, e.g. myapp.jobs:worker")
    parser.add_argument("--url", help="server URL (default: FAKTORY_PROVIDER / FAKTORY_URL)")
    parser.add_argument("-c", "--concurrency", type=int, help="jobs run at once")
    parser.add_argument(
        "-q", "--queue", dest="queues", action="append", help="queue, in priority order (repeat)"
    )
    parser.add_argument("-g", "--grace", type=float, help="grace period in seconds on terminate")
    parser.add_argument(
        "-t", "--timeout", type=float, help="seconds a job may run (unless its function says)"
    )
    parser.add_argument(
        "-l", "--log-level", default="info", choices=["debug", "info", "warning", "error"]
    )
    return parser


def load_worker(target: str) -> Worker:
    """Import ``module:attribute`` and return the Worker it names."""
    module_name, sep, attribute = target.partition(":")
    if not sep or not module_name or not attribute:
        raise TargetError(f"expected module:attribute, e.g. myapp.jobs:worker, not {target!r}")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise TargetError(f"cannot import {module_name!r}: {exc}") from exc
    try:
        found = getattr(module, attribute)
    except AttributeError:
        raise TargetError(f"{module_name!r} has no attribute {attribute!r}") from None
    worker = found() if callable(found) and not isinstance(found, Worker) else found
    if not isinstance(worker, Worker):
        raise TargetError(f"{target} is a {type(worker).__name__}, not a Worker")
    return worker


def _configure(worker: Worker, args: argparse.Namespace) -> None:
    if args.url:
        worker.url, worker.settings = args.url, None
    if args.concurrency is not None:
        if args.concurrency < 1:
            raise ValueError(f"concurrency must be at least 1, not {args.concurrency}")
        worker.concurrency = args.concurrency
    if args.queues:
        worker.queues = queue_order(args.queues)
    if args.grace is not None:
        worker.grace_period = args.grace
    if args.timeout is not None:
        worker.job_timeout = check_timeout(args.timeout)


def run(argv: Sequence[str]) -> int:
    """Run the worker until it is terminated; the process exit status."""
    args = _parser().parse_args(list(argv))
    logging.basicConfig(
        level=args.log_level.upper(),
        format=LOG_FORMAT,
        stream=sys.stderr,
    )
    try:
        worker = load_worker(args.target)
        _configure(worker, args)
        worker.run(handle_signals=True)
    except (TargetError, ClientError, ValueError, StartupError) as exc:
        log.error("%s", exc)
        return 1
    return 0  # (with job threads still running, worker.run() has ended the process)
