"""The Python worker: run job functions for jobs fetched from Faktory or faktory-core.

::

    from faktory_core.worker import Worker

    worker = Worker(concurrency=20, queues=["critical", "default"])

    @worker.job("SendEmail")
    async def send_email(user_id: int, subject: str) -> None: ...

    if __name__ == "__main__":
        worker.run()      # or: faktory-core worker myapp.jobs:worker

See :mod:`faktory_core.worker.worker` for the lifecycle (quiet, terminate, grace period).
"""

from faktory_core.model import WorkerState
from faktory_core.worker.context import JobContext, WrongClient, current_job
from faktory_core.worker.handles import JobHandle
from faktory_core.worker.lifecycle import StartupError, WorkerContext
from faktory_core.worker.outcomes import Discard, JobTimeout, Retry
from faktory_core.worker.queues import Strict, Weighted
from faktory_core.worker.registry import Middleware, UnknownJobType
from faktory_core.worker.worker import (
    DEFAULT_CONCURRENCY,
    DEFAULT_GRACE_PERIOD,
    DEFAULT_HEARTBEAT,
    Shutdown,
    Worker,
)

__all__ = [
    "DEFAULT_CONCURRENCY",
    "DEFAULT_GRACE_PERIOD",
    "DEFAULT_HEARTBEAT",
    "Discard",
    "JobContext",
    "JobHandle",
    "JobTimeout",
    "Middleware",
    "Retry",
    "Shutdown",
    "StartupError",
    "Strict",
    "UnknownJobType",
    "Weighted",
    "Worker",
    "WorkerContext",
    "WorkerState",
    "WrongClient",
    "current_job",
]
