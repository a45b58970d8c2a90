"""The worker process: fetch jobs, run them, report ACK or FAIL, heartbeat, shut down gracefully.

One task group owns everything. Inside it run the heartbeat, the signal watcher and
``concurrency`` fetchers; each fetcher has its own connection and runs the jobs it fetches, so
concurrency N uses N + 1 connections plus a pool of N for pushes from jobs, and never waits for
a connection another part holds.

Lifecycle (reference §5.7): *running* → *quiet* (stop fetching; jobs in progress finish) →
*terminating* (stop fetching; jobs still running when the grace period ends are cancelled and
FAILed with errtype ``Shutdown``, so they end in the retries set, never lost) → the worker
returns. The server asks for quiet/terminate in BEAT replies; SIGTSTP means quiet, SIGTERM and
SIGINT terminate, and a second SIGTERM/SIGINT ends the grace period at once.
"""

from __future__ import annotations

import logging
import os
import secrets
import signal
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

import anyio
import anyio.abc

from faktory_core.client import commands
from faktory_core.client.commands import Request
from faktory_core.client.connection import AsyncConnection, Identity
from faktory_core.client.errors import (
    AuthenticationError,
    ClientError,
    ConfigError,
    ProtocolError,
    ServerError,
    TransportError,
)
from faktory_core.client.settings import Settings
from faktory_core.info import rss_kb
from faktory_core.model import WorkerState
from faktory_core.worker.context import Clients, JobContext
from faktory_core.worker.queues import QueueOrder, Strict, queue_order
from faktory_core.worker.registry import MAX_BACKTRACE, Middleware, Registry, describe_failure
from faktory_core.worker.reservation import Reservations
from faktory_core.worker.threads import JobThreads

__all__ = [
    "DEFAULT_CONCURRENCY",
    "DEFAULT_GRACE_PERIOD",
    "DEFAULT_HEARTBEAT",
    "DEFAULT_RECONNECT_DELAY",
    "PROCESS_JOBS",
    "REPORT_TIMEOUT",
    "Shutdown",
    "Worker",
    "processing_jobs",
]

log = logging.getLogger("faktory_core.worker")

DEFAULT_CONCURRENCY = 10
#: Faktory expects a terminated worker gone within ~30 s; 25 s leaves time to report.
DEFAULT_GRACE_PERIOD = 25.0
#: The protocol's recommended BEAT interval (at least every 60 s, at most every 5 s).
DEFAULT_HEARTBEAT = 15.0
#: Longest wait between reconnection attempts (they start at a tenth of a second, doubling).
DEFAULT_RECONNECT_DELAY = 5.0
#: After the grace period, how long cancelled jobs get to be reported before we stop anyway.
REPORT_TIMEOUT = 5.0
#: The environment variable that switches job processing off (a web or console process of the
#: same application that only pushes), and the values it takes.
PROCESS_JOBS = "FAKTORY_PROCESS_JOBS"
_PROCESS_OFF = frozenset({"false", "0", "no", "off"})
_PROCESS_ON = frozenset({"", "true", "1", "yes", "on"})

F = TypeVar("F", bound=Callable[..., Any])


class Shutdown(Exception):
    """The failure reported for a job still running when the grace period ended."""


def processing_jobs(environ: Mapping[str, str] | None = None) -> bool:
    """False when ``FAKTORY_PROCESS_JOBS`` is ``false``/``0``/``no``/``off`` (any case);
    true when it is unset, empty or ``true``/``1``/``yes``/``on``; anything else is refused."""
    environ = os.environ if environ is None else environ
    value = environ.get(PROCESS_JOBS, "").strip().lower()
    if value in _PROCESS_OFF:
        return False
    if value in _PROCESS_ON:
        return True
    raise ConfigError(
        f"{PROCESS_JOBS} must be true or false (1/0, yes/no), not {environ[PROCESS_JOBS]!r}"
    )


class Worker:
    """Runs registered job functions for jobs fetched from the server.

    ``queues`` is a list (strict order) or a mapping of queue to weight (shuffled per fetch).
    Times are in seconds and configurable so tests run fast. The server address comes from
    ``url``/``settings`` or, when the worker starts, FAKTORY_PROVIDER / FAKTORY_URL.
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        settings: Settings | None = None,
        concurrency: int = DEFAULT_CONCURRENCY,
        queues: Sequence[str] | Mapping[str, float] = ("default",),
        labels: Sequence[str] = ("python",),
        middleware: Sequence[Middleware] = (),
        heartbeat_interval: float = DEFAULT_HEARTBEAT,
        grace_period: float = DEFAULT_GRACE_PERIOD,
        reconnect_delay: float = DEFAULT_RECONNECT_DELAY,
        wid: str | None = None,
    ) -> None:
        if concurrency < 1:
            raise ValueError(f"concurrency must be at least 1, not {concurrency}")
        self.url = url
        self.settings = settings
        self.concurrency = concurrency
        self.queues: QueueOrder = queue_order(queues)
        self.labels = tuple(labels)
        self.heartbeat_interval = heartbeat_interval
        self.grace_period = grace_period
        self.reconnect_delay = reconnect_delay
        #: The worker id the server knows this process by (random unless given).
        self.wid = wid or secrets.token_hex(8)
        self.registry = Registry()
        self.registry.middleware.extend(middleware)
        #: Extends running jobs' reservations (TRACK SET reserve_until), see .reservation.
        self.reservations = Reservations()
        self.state = WorkerState.RUNNING
        #: Threads of plain jobs cancelled at shutdown that are still running on their own.
        self.abandoned_threads = 0
        self._run: _Run | None = None
        self._clients: Clients | None = None

    # -- configuration ------------------------------------------------------------------------

    def register(self, jobtype: str, func: Callable[..., Any], *, context: bool = False) -> None:
        """Run ``func(*args)`` (``context=True``: ``func(ctx, *args)``) for jobs of ``jobtype``."""
        self.registry.register(jobtype, func, context=context)

    def job(self, jobtype: str | None = None, *, context: bool = False) -> Callable[[F], F]:
        """Decorator form of :meth:`register`; the type defaults to the function's name."""

        def decorate(func: F) -> F:
            self.register(jobtype or func.__name__, func, context=context)
            return func

        return decorate

    def use(self, middleware: Middleware) -> Middleware:
        """Add a middleware (innermost so far); usable as a decorator."""
        self.registry.middleware.append(middleware)
        return middleware

    @property
    def in_progress(self) -> frozenset[str]:
        """The jids of the jobs running now."""
        return frozenset(self._run.in_progress) if self._run is not None else frozenset()

    @property
    def fetchers(self) -> int:
        """How many fetch loops are still running (0 once quiet has taken effect)."""
        return self._run.fetchers_left if self._run is not None else 0

    def resolve_settings(self) -> Settings:
        if self.settings is None:
            self.settings = Settings.from_env(self.url)
        return self.settings

    # -- state changes ------------------------------------------------------------------------
    # Call these on the worker's event loop (from a job, a middleware, a task of the same task
    # group); from another thread, go through ``anyio.from_thread`` or a blocking portal.

    def quiet(self) -> None:
        """Stop fetching; jobs in progress finish. The worker keeps beating until terminated."""
        if self.state is WorkerState.RUNNING:
            log.info("worker %s quiet: no more fetching", self.wid)
            self.state = WorkerState.QUIET
            if self._run is not None:
                self._run.stopping.set()

    def terminate(self) -> None:
        """Stop fetching, give running jobs the grace period, FAIL the rest and return."""
        if self.state is not WorkerState.TERMINATE:
            log.info("worker %s terminating (grace period %s s)", self.wid, self.grace_period)
            self.state = WorkerState.TERMINATE
        if self._run is not None:
            self._run.stopping.set()
            self._run.terminating.set()

    def _stop_now(self) -> None:
        """End the grace period at once (a second SIGTERM/SIGINT)."""
        self.terminate()
        if self._run is not None:
            self._run.hard_stop.set()

    # -- running ------------------------------------------------------------------------------

    def run(self, *, handle_signals: bool | None = None) -> None:
        """Run until terminated (blocking). Signals are handled by default in the main thread,
        the only one that can receive them."""
        if handle_signals is None:
            handle_signals = threading.current_thread() is threading.main_thread()
        try:
            import uvloop  # noqa: F401  (fewer CPU cycles per job when available)

            options: dict[str, Any] = {"use_uvloop": True}
        except ImportError:
            options = {}
        anyio.run(self._serve_with_signals, handle_signals, backend_options=options)

    async def _serve_with_signals(self, handle_signals: bool) -> None:
        await self.serve(handle_signals=handle_signals)

    async def serve(
        self,
        *,
        handle_signals: bool = False,
        task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
    ) -> None:
        """Run in the current event loop until terminated.

        With ``await task_group.start(worker.serve)`` the call returns once the worker is
        registered with the server (its first connection is open).
        """
        if self._run is not None:
            raise RuntimeError("this worker is already running")
        if not processing_jobs():
            # A warning, so an application without logging set up still shows it.
            log.warning(
                "%s=%s: job processing is off, so worker %s fetches nothing and returns "
                "(pushing jobs still works); unset it or set it to true to process jobs",
                PROCESS_JOBS,
                os.environ[PROCESS_JOBS],
                self.wid,
            )
            task_status.started()
            return
        settings = self.resolve_settings()
        run = self._run = _Run(self, settings)
        self._clients = Clients(self.resolve_settings, self.concurrency)
        if self.state is not WorkerState.RUNNING:
            run.stopping.set()
        if self.state is WorkerState.TERMINATE:
            run.terminating.set()
        try:
            await run.main(handle_signals, task_status)
        except BaseExceptionGroup as group:
            # A worker stopped by one error (a refused password) raises that error itself.
            sole = _sole_error(group)
            if not isinstance(sole, ClientError):
                raise
            raise sole from None
        finally:
            await self._clients.aclose()
            self._run = None

    async def perform(self, payload: Mapping[str, Any]) -> None:
        """Run one job now, without a server (testing modes): the job's exception propagates."""
        if self._clients is not None:
            await self.registry.perform(JobContext(dict(payload), self._clients))
            return
        clients = Clients(self.resolve_settings, self.concurrency)
        try:
            await self.registry.perform(JobContext(dict(payload), clients))
        finally:
            await clients.aclose()  # a job that used its client leaves no connection open

    async def _execute(self, payload: dict[str, Any]) -> Request[None]:
        """Run one fetched job; the ACK or FAIL to report for it."""
        assert self._clients is not None
        threads = self._run.threads if self._run is not None else None
        ctx = JobContext(payload, self._clients)
        try:
            await self.registry.perform(ctx, threads)
        except Exception as exc:
            limit = payload.get("backtrace")
            limit = limit if isinstance(limit, int) and 0 < limit < MAX_BACKTRACE else MAX_BACKTRACE
            log.warning("job %s (%s) failed: %r", ctx.jid, ctx.jobtype, exc)
            return commands.fail(ctx.jid, *describe_failure(exc, limit))
        return commands.ack(ctx.jid)


class _Run:
    """The state of one :meth:`Worker.serve` call: its events, scopes and connections."""

    def __init__(self, worker: Worker, settings: Settings) -> None:
        self.worker = worker
        self.settings = settings
        self.identity = Identity(wid=worker.wid, labels=worker.labels)
        self.stopping = anyio.Event()  # quiet or terminating: fetch no more
        self.terminating = anyio.Event()
        self.hard_stop = anyio.Event()  # the grace period is over
        self.fetchers_done = anyio.Event()
        self.threads: JobThreads | None = None  # set once the task group exists
        self.job_scopes: set[anyio.CancelScope] = set()
        self.in_progress: set[str] = set()
        self.fetchers_left = worker.concurrency
        # Strict order never changes: encode its FETCH line once, not per fetch.
        queues = worker.queues
        self._strict_fetch = commands.fetch(queues.order()) if isinstance(queues, Strict) else None

    # -- the task group -----------------------------------------------------------------------

    async def main(self, handle_signals: bool, task_status: anyio.abc.TaskStatus[None]) -> None:
        async with anyio.create_task_group() as tg:
            self.threads = JobThreads(tg)
            tg.start_soon(self.worker.reservations.run, name="faktory-core reservations")
            try:
                await self.serve_in(tg, handle_signals, task_status)
            finally:
                self.threads.close()  # idle job threads exit; busy (abandoned) ones later
            tg.cancel_scope.cancel()
        log.info("worker %s stopped", self.worker.wid)

    async def serve_in(
        self,
        tg: anyio.abc.TaskGroup,
        handle_signals: bool,
        task_status: anyio.abc.TaskStatus[None],
    ) -> None:
        """Start the signal watcher, heartbeat and fetchers in ``tg``; return once terminated
        and drained (the caller cancels what is left)."""
        if handle_signals:
            await tg.start(self.watch_signals)
        beat_conn = await self.connect(self.terminating)
        if beat_conn is None:  # terminated before the server could be reached
            task_status.started()
            return
        tg.start_soon(self.heartbeat, beat_conn)
        for _ in range(self.worker.concurrency):
            tg.start_soon(self.fetch_loop)
        log.info(
            "worker %s processing %s with concurrency %d",
            self.worker.wid,
            self.worker.queues,
            self.worker.concurrency,
        )
        task_status.started()
        await self.terminating.wait()
        await self.drain()

    async def drain(self) -> None:
        """Wait for the fetchers up to the grace period, then cancel the jobs still running
        (FETCHes in flight finish: they take at most the server's 2 s block)."""
        await _first_of(self.worker.grace_period, self.fetchers_done, self.hard_stop)
        if self.fetchers_done.is_set():
            return
        log.warning("grace period over: failing %d running job(s)", len(self.job_scopes))
        self.hard_stop.set()
        for scope in list(self.job_scopes):
            scope.cancel()
        with anyio.move_on_after(REPORT_TIMEOUT):
            await self.fetchers_done.wait()

    async def watch_signals(self, *, task_status: anyio.abc.TaskStatus[None]) -> None:
        stops = (signal.SIGTERM, signal.SIGINT)
        with anyio.open_signal_receiver(*stops, signal.SIGTSTP) as received:
            task_status.started()
            async for signum in received:
                log.info("received %s", signal.Signals(signum).name)
                if signum == signal.SIGTSTP:
                    self.worker.quiet()
                elif self.worker.state is WorkerState.TERMINATE:
                    self.worker._stop_now()
                else:
                    self.worker.terminate()

    # -- connections --------------------------------------------------------------------------

    async def connect(self, until: anyio.Event) -> AsyncConnection | None:
        """A new connection, retrying with backoff; None once ``until`` is set."""
        delay = 0.1
        while not until.is_set():
            try:
                return await AsyncConnection.open(self.settings, self.identity)
            except AuthenticationError:
                raise  # a wrong password will not fix itself: stop the worker loudly
            except ClientError as exc:  # its message names the server
                log.warning("%s; retrying in %.1f s", exc, delay)
            await _wait_or(delay, until)
            delay = min(delay * 2, self.worker.reconnect_delay)
        return None

    async def call(
        self, conn: AsyncConnection | None, request: Request[Any]
    ) -> tuple[AsyncConnection | None, Any]:
        """Send a retry-safe request until it is answered (a refusal is logged, not retried)."""
        delay = 0.1
        while True:
            conn = conn if conn is not None and not conn.closed else await self.reconnect()
            try:
                return conn, await conn.execute(request)
            except ServerError as exc:
                log.warning("%s refused: %s", request.line.split(b" ", 1)[0].decode(), exc)
                return conn, None
            except (TransportError, ProtocolError) as exc:
                log.warning("connection lost (%s); reconnecting", exc)
                await conn.aclose(polite=False)
                conn = None
            await anyio.sleep(delay)
            delay = min(delay * 2, self.worker.reconnect_delay)

    async def reconnect(self) -> AsyncConnection:
        """Like :meth:`connect` but never gives up: reports must reach the server."""
        conn = await self.connect(anyio.Event())  # an event nobody sets
        assert conn is not None
        return conn

    # -- heartbeat ----------------------------------------------------------------------------

    async def heartbeat(self, conn: AsyncConnection | None) -> None:
        """BEAT every interval with our RSS and state; obey quiet/terminate in the reply."""
        try:
            while True:
                await anyio.sleep(self.worker.heartbeat_interval)
                state = self.worker.state
                current = "" if state is WorkerState.RUNNING else state.value
                beat = commands.beat(self.worker.wid, rss_kb(), current)
                conn, wanted = await self.call(conn, beat)
                if wanted is None and conn is not None:
                    # Refused (e.g. ``unknown worker`` after being reaped): a new connection's
                    # HELLO registers the wid again.
                    await conn.aclose()
                    conn = None
                elif wanted == "quiet":
                    self.worker.quiet()
                elif wanted == "terminate":
                    self.worker.terminate()
        finally:
            if conn is not None:
                await conn.aclose()

    # -- fetching and running -----------------------------------------------------------------

    async def fetch_loop(self) -> None:
        conn: AsyncConnection | None = None
        try:
            while not self.stopping.is_set():
                if conn is None or conn.closed:
                    conn = await self.connect(self.stopping)
                    if conn is None:
                        break
                report = await self.fetch_and_run(conn)
                if report is not None:
                    conn, _ = await self.call(conn, report)
        finally:
            if conn is not None:
                await conn.aclose()
            self.fetchers_left -= 1
            if self.fetchers_left == 0:
                self.fetchers_done.set()

    async def fetch_and_run(self, conn: AsyncConnection) -> Request[None] | None:
        """One FETCH and, if it brought a job, the job: returns the ACK/FAIL to send."""
        job = await self.fetch(conn)
        if job is None:
            return None
        if self.hard_stop.is_set():
            # Fetched after the grace period ended: report it at once rather than start it.
            return self.shutdown_failure(job, started=False)
        return await self.run_job(job)

    async def run_job(self, job: dict[str, Any]) -> Request[None]:
        """Run the job in a scope the end of the grace period cancels; a job cut off there is
        reported as a :class:`Shutdown` failure, so it is retried rather than lost."""
        jid = str(job.get("jid", ""))
        report: Request[None] | None = None
        with anyio.CancelScope() as scope:
            self.job_scopes.add(scope)
            self.in_progress.add(jid)
            assert self.worker._clients is not None
            self.worker.reservations.started(job, self.worker._clients)
            try:
                report = await self.worker._execute(job)
            finally:
                self.job_scopes.discard(scope)
                self.in_progress.discard(jid)
                self.worker.reservations.finished(jid)
        return report if report is not None else self.shutdown_failure(job, started=True)

    async def fetch(self, conn: AsyncConnection) -> dict[str, Any] | None:
        # Not cancelled by the end of the grace period: a FETCH reply lost to a cancellation
        # would leave its job reserved (unseen) until the reservation expires.
        try:
            return await conn.execute(self.fetch_request())
        except ServerError as exc:
            log.error("FETCH refused: %s", exc)
        except (TransportError, ProtocolError) as exc:
            log.warning("connection lost during FETCH (%s); reconnecting", exc)
            await conn.aclose(polite=False)
        # Do not spin on a refusal or a dead server; stop waiting as soon as we are told to stop.
        await _wait_or(self.worker.reconnect_delay / 10, self.stopping)
        return None

    def fetch_request(self) -> Request[dict[str, Any] | None]:
        if self._strict_fetch is not None:
            return self._strict_fetch
        return commands.fetch(self.worker.queues.order())

    def shutdown_failure(self, job: dict[str, Any], *, started: bool) -> Request[None]:
        handler = self.worker.registry.handlers.get(str(job.get("jobtype")))
        if started and handler is not None and not handler.is_async:
            self.worker.abandoned_threads += 1
        grace = self.worker.grace_period
        message = f"the worker shut down before the job finished ({grace} s grace period)"
        return commands.fail(str(job.get("jid", "")), Shutdown.__name__, message, [])


def _sole_error(error: BaseException) -> BaseException:
    """The one exception inside nested single-member exception groups (or the group)."""
    while isinstance(error, BaseExceptionGroup) and len(error.exceptions) == 1:
        error = error.exceptions[0]
    return error


async def _wait_or(seconds: float, event: anyio.Event) -> None:
    """Sleep ``seconds`` unless ``event`` is set first."""
    with anyio.move_on_after(seconds):
        await event.wait()


async def _first_of(timeout: float, *events: anyio.Event) -> None:
    """Return when any of ``events`` is set, or after ``timeout`` seconds."""
    with anyio.move_on_after(timeout):
        async with anyio.create_task_group() as tg:

            async def wait(event: anyio.Event) -> None:
                await event.wait()
                tg.cancel_scope.cancel()

            for event in events:
                tg.start_soon(wait, event)
