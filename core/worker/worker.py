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
import sys
import threading
import types
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ParamSpec, TypeVar, overload

import anyio
import anyio.abc
import attrs

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
from faktory_core.worker.handles import JobHandle, check_timeout
from faktory_core.worker.lifecycle import Hook, Hooks, WorkerContext
from faktory_core.worker.outcomes import (
    Discard,
    JobTimeout,
    Retry,
    push_payload,
    rescheduled,
    retries_left,
)
from faktory_core.worker.queues import QueueOrder, Strict, queue_order
from faktory_core.worker.registry import MAX_BACKTRACE, Middleware, Registry, describe_failure
from faktory_core.worker.reservation import Reservations
from faktory_core.worker.running import RunningJob, returned_after_expiry
from faktory_core.worker.threads import JobThreads

__all__ = [
    "DEFAULT_CONCURRENCY",
    "DEFAULT_GRACE_PERIOD",
    "DEFAULT_HEARTBEAT",
    "DEFAULT_RECONNECT_DELAY",
    "LOG_FORMAT",
    "PROCESS_JOBS",
    "REPORT_TIMEOUT",
    "Report",
    "Reschedule",
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
#: The log format of ``faktory-core worker`` and of ``worker.run()`` when the application has
#: not configured logging.
LOG_FORMAT = "%(asctime)s %(levelname).1s %(name)s %(message)s"

_P = ParamSpec("_P")
_R = TypeVar("_R")
_H = TypeVar("_H", bound=Hook)


class Shutdown(Exception):
    """The failure reported for a job still running when the grace period ended."""


@attrs.frozen
class Reschedule:
    """The report of a job that raised ``Retry(in_seconds=...)``: PUSH its copy, then ACK it;
    if the PUSH is not answered ``+OK``, FAIL it instead (the server's backoff decides)."""

    push: Request[None]
    ack: Request[None]
    fail: Request[None]


#: What the worker sends when a job ends.
Report = Request[None] | Reschedule


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
        job_timeout: float | None = None,
        traceback_level: int | None = logging.DEBUG,
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
        #: Seconds a job may run unless its function has a timeout of its own (None: no limit).
        self.job_timeout = check_timeout(job_timeout)
        #: The level failed jobs' tracebacks are logged at (None: not logged).
        self.traceback_level = traceback_level
        #: The worker id the server knows this process by (random unless given).
        self.wid = wid or secrets.token_hex(8)
        self.registry = Registry()
        self.registry.middleware.extend(middleware)
        #: Extends running jobs' reservations (TRACK SET reserve_until), see .reservation.
        self.reservations = Reservations()
        self.state = WorkerState.RUNNING
        #: Threads of plain jobs cancelled at shutdown that are still running on their own.
        self.abandoned_threads = 0
        self.hooks = Hooks()
        #: What lifecycle hooks get; its ``state`` is every job's ``ctx.state`` too.
        self.context = WorkerContext(self, types.SimpleNamespace())
        self._threads: JobThreads | None = None
        self._run: _Run | None = None
        self._clients: Clients | None = None

    # -- configuration ------------------------------------------------------------------------

    def register(
        self,
        jobtype: str,
        func: Callable[_P, _R],
        *,
        context: bool = False,
        timeout: float | None = None,
    ) -> JobHandle[_P, _R]:
        """Run ``func(*args)`` (``context=True``: ``func(ctx, *args)``) for jobs of ``jobtype``,
        for at most ``timeout`` seconds (default: the worker's ``job_timeout``)."""
        timeout = check_timeout(timeout)
        handle = JobHandle(self, func, jobtype, context=context, timeout=timeout)
        self.registry.register(jobtype, func, context=context, timeout=timeout)
        return handle

    @overload
    def job(self, jobtype: Callable[_P, _R], /) -> JobHandle[_P, _R]: ...

    @overload
    def job(
        self, jobtype: str | None = None, *, context: bool = False, timeout: float | None = None
    ) -> Callable[[Callable[_P, _R]], JobHandle[_P, _R]]: ...

    def job(
        self,
        jobtype: str | Callable[_P, _R] | None = None,
        *,
        context: bool = False,
        timeout: float | None = None,
    ) -> JobHandle[_P, _R] | Callable[[Callable[_P, _R]], JobHandle[_P, _R]]:
        """Decorator form of :meth:`register` (``@worker.job`` or ``@worker.job("Type", ...)``);
        the type defaults to the function's name. Returns a :class:`JobHandle`."""
        if callable(jobtype):
            return self.register(jobtype.__name__, jobtype)

        def decorate(func: Callable[_P, _R]) -> JobHandle[_P, _R]:
            name = jobtype or func.__name__
            return self.register(name, func, context=context, timeout=timeout)

        return decorate

    def on_startup(self, hook: _H) -> _H:
        """Run ``hook(ctx)`` once before the worker connects; if it raises, the worker stops
        with :class:`~faktory_core.worker.StartupError`. Usable as a decorator."""
        self.hooks.startup.append(hook)
        return hook

    def on_quiet(self, hook: _H) -> _H:
        """Run ``hook(ctx)`` once when the worker stops fetching (quiet or terminate)."""
        self.hooks.quiet.append(hook)
        return hook

    def on_shutdown(self, hook: _H) -> _H:
        """Run ``hook(ctx)`` once after the last job has ended, before the worker returns."""
        self.hooks.shutdown.append(hook)
        return hook

    def use(self, middleware: Middleware) -> Middleware:
        """Add a middleware (innermost so far); usable as a decorator."""
        self.registry.middleware.append(middleware)
        return middleware

    @property
    def in_progress(self) -> frozenset[str]:
        """The jids of the jobs running now."""
        return frozenset(self._run.running) if self._run is not None else frozenset()

    def running_job(self, jid: str) -> RunningJob | None:
        """The record of a job running now (its scope, timeout and ``reserved_until``)."""
        return self._run.running.get(jid) if self._run is not None else None

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
        """Run until terminated (blocking), as ``faktory-core worker`` does.

        Logging is set up (level INFO, to stderr) unless the application configured it.
        Signals are handled by default in the main thread, the only one that can receive them.
        If plain jobs are still running in their threads when the worker has stopped (cut off
        by the grace period or their timeout), Python cannot stop them and would wait for them
        at exit: ``run()`` then logs a warning and ends the process (status 0) instead of
        returning.
        """
        if handle_signals is None:
            handle_signals = threading.current_thread() is threading.main_thread()
        if not logging.root.handlers:
            logging.basicConfig(level=logging.INFO, format=LOG_FORMAT, stream=sys.stderr)
        try:
            import uvloop  # noqa: F401  (fewer CPU cycles per job when available)

            options: dict[str, Any] = {"use_uvloop": True}
        except ImportError:
            options = {}
        anyio.run(self._serve_with_signals, handle_signals, backend_options=options)
        left = self.threads_running
        if left:
            # Python cannot stop a thread; the process must still exit within Faktory's window.
            log.warning("exiting with %d job thread(s) still running", left)
            logging.shutdown()
            for stream in (sys.stdout, sys.stderr):
                stream.flush()
            os._exit(0)

    @property
    def threads_running(self) -> int:
        """Threads of plain jobs still running (their job cut off, or still in progress)."""
        return self._threads.busy if self._threads is not None else 0

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
        state = self.context.state
        if self._clients is not None:
            await self.registry.perform(JobContext(dict(payload), self._clients, state))
            return
        clients = Clients(self.resolve_settings, self.concurrency)
        try:
            await self.registry.perform(JobContext(dict(payload), clients, state))
        finally:
            await clients.aclose()  # a job that used its client leaves no connection open

    def timeout_for(self, jobtype: str) -> float | None:
        handler = self.registry.handlers.get(jobtype)
        if handler is not None and handler.timeout is not None:
            return handler.timeout
        return self.job_timeout

    async def _execute(self, payload: dict[str, Any]) -> Report:
        """Run one fetched job; what to report for it."""
        assert self._clients is not None
        ctx = JobContext(payload, self._clients, self.context.state)
        try:
            await self.registry.perform(ctx, self._threads)
        except Exception as exc:
            return self._outcome(ctx, exc)
        return commands.ack(ctx.jid)

    def _outcome(self, ctx: JobContext, exc: Exception) -> Report:
        """The report for a job that raised ``exc``."""
        if isinstance(exc, Discard):
            log.info("job %s (%s) discarded: %s", ctx.jid, ctx.jobtype, exc.reason)
            return commands.ack(ctx.jid)
        if isinstance(exc, Retry):
            return self._retry(ctx, exc)
        limit = ctx.payload.get("backtrace")
        limit = limit if isinstance(limit, int) and 0 < limit < MAX_BACKTRACE else MAX_BACKTRACE
        errtype, message, backtrace = describe_failure(exc, limit)
        self.log_failure(ctx.jid, ctx.jobtype, errtype, message, exc)
        return commands.fail(ctx.jid, errtype, message, backtrace)

    def _retry(self, ctx: JobContext, retry: Retry) -> Report:
        fail = commands.fail(ctx.jid, Retry.__name__, retry.reason, [])
        if retry.in_seconds is None or not retries_left(ctx.payload):
            log.info("job %s (%s) failed for a retry: %s", ctx.jid, ctx.jobtype, retry.reason)
            return fail
        log.info(
            "job %s (%s) runs again in %s s: %s",
            ctx.jid,
            ctx.jobtype,
            retry.in_seconds,
            retry.reason,
        )
        copy = push_payload(rescheduled(ctx.payload, retry))
        return Reschedule(copy, commands.ack(ctx.jid), fail)

    def log_failure(
        self, jid: str, jobtype: str, errtype: str, message: str, exc: BaseException | None
    ) -> None:
        """One warning line per failed job (its fields also in ``record.faktory_failure``),
        and its traceback at :attr:`traceback_level`."""
        fields = {"jid": jid, "jobtype": jobtype, "errtype": errtype, "message": message}
        extra = {"faktory_failure": fields}
        log.warning("job %s (%s) failed: %s: %s", jid, jobtype, errtype, message, extra=extra)
        level = self.traceback_level
        if exc is not None and level is not None and log.isEnabledFor(level):
            log.log(level, "traceback of job %s (%s):", jid, jobtype, exc_info=exc, extra=extra)


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
        self.quiet_hooks_done = anyio.Event()
        #: The jobs running now, by jid: their scopes, timeouts and reservations.
        self.running: dict[str, RunningJob] = {}
        #: Job types already warned about a reservation shorter than their timeout.
        self.short_reservations: set[str] = set()
        self.fetchers_left = worker.concurrency
        # Strict order never changes: encode its FETCH line once, not per fetch.
        queues = worker.queues
        self._strict_fetch = commands.fetch(queues.order()) if isinstance(queues, Strict) else None

    # -- the task group -----------------------------------------------------------------------

    async def main(self, handle_signals: bool, task_status: anyio.abc.TaskStatus[None]) -> None:
        worker = self.worker
        await worker.hooks.run_startup(worker.context)
        try:
            async with anyio.create_task_group() as tg:
                threads = worker._threads = JobThreads(tg)
                tg.start_soon(self.quiet_hooks)
                tg.start_soon(worker.reservations.run, name="faktory-core reservations")
                try:
                    await self.serve_in(tg, handle_signals, task_status)
                    await self.quiet_hooks_done.wait()
                finally:
                    threads.close()  # idle job threads exit; busy (abandoned) ones later
                tg.cancel_scope.cancel()
        finally:
            with anyio.CancelScope(shield=True):
                await worker.hooks.run_shutdown(worker.context)
        log.info("worker %s stopped", worker.wid)

    async def quiet_hooks(self) -> None:
        """Run the quiet hooks once the worker stops fetching."""
        await self.stopping.wait()
        try:
            await self.worker.hooks.run_quiet(self.worker.context)
        finally:
            self.quiet_hooks_done.set()

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
        log.warning("grace period over: failing %d running job(s)", len(self.running))
        self.hard_stop.set()
        for running in list(self.running.values()):
            running.scope.cancel()
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
                if isinstance(report, Reschedule):
                    conn, report = await self.push_copy(conn, report)
                if report is not None:
                    conn, _ = await self.call(conn, report)
        finally:
            if conn is not None:
                await conn.aclose()
            self.fetchers_left -= 1
            if self.fetchers_left == 0:
                self.fetchers_done.set()

    async def push_copy(
        self, conn: AsyncConnection, report: Reschedule
    ) -> tuple[AsyncConnection | None, Request[None]]:
        """PUSH a retried job's copy (once: PUSH is not safe to repeat); the ACK to send if
        the server took it, else the FAIL."""
        try:
            await conn.execute(report.push)
        except ServerError as exc:
            log.warning("PUSH of a retried job refused (%s); failing it instead", exc)
            return conn, report.fail
        except (TransportError, ProtocolError) as exc:
            log.warning("connection lost pushing a retried job (%s); failing it instead", exc)
            await conn.aclose(polite=False)
            return None, report.fail
        return conn, report.ack

    async def fetch_and_run(self, conn: AsyncConnection) -> Report | None:
        """One FETCH and, if it brought a job, the job: returns what to report."""
        job = await self.fetch(conn)
        if job is None:
            return None
        if "failure" in job or job.get("jid") in self.running:
            returned_after_expiry(job, self.running)
        if self.hard_stop.is_set():
            # Fetched after the grace period ended: report it at once rather than start it.
            return self.shutdown_failure(job, started=False)
        return await self.run_job(job)

    async def run_job(self, job: dict[str, Any]) -> Report:
        """Run the job: the one place a running job's lifetime is managed. Its scope is
        cancelled at its timeout (reported as :class:`JobTimeout`) or at the end of the grace
        period (reported as :class:`Shutdown`, so it is retried rather than lost)."""
        running = RunningJob.start(job, self.worker.timeout_for(str(job.get("jobtype"))))
        jid = running.jid
        self.running[jid] = running
        if running.reservation_too_short():
            self.warn_short_reservation(running)
        report: Report | None = None
        assert self.worker._clients is not None
        self.worker.reservations.started(job, self.worker._clients)
        try:
            with running.scope:
                report = await self.worker._execute(job)
        finally:
            self.worker.reservations.finished(jid)
            if self.running.get(jid) is running:
                del self.running[jid]
        if running.timed_out:
            report = self.timeout_failure(running)
        elif report is None:
            report = self.shutdown_failure(job, started=True)
        running.check_reservation()
        return report

    def warn_short_reservation(self, running: RunningJob) -> None:
        jobtype = str(running.payload.get("jobtype"))
        if jobtype not in self.short_reservations:
            self.short_reservations.add(jobtype)
            log.warning(
                "jobs of type %s may run %s s (their timeout) but are reserved for %.0f s: the "
                "server may hand one out again while it runs; push them with a reserve_for "
                "longer than the timeout (job handles do); warned once per type",
                jobtype,
                running.timeout,
                running.reserved_until - running.started,
            )

    def timeout_failure(self, running: RunningJob) -> Request[None]:
        jobtype = str(running.payload.get("jobtype"))
        message = f"the job ran longer than its timeout of {running.timeout} s"
        handler = self.worker.registry.handlers.get(jobtype)
        if handler is not None and not handler.is_async:
            message += " (its thread was left to finish on its own)"
        self.worker.log_failure(running.jid, jobtype, JobTimeout.__name__, message, None)
        return commands.fail(running.jid, JobTimeout.__name__, message, [])

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
