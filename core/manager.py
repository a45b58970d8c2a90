"""The job lifecycle over a Store: what PUSH, FETCH, ACK, FAIL, BEAT, QUEUE and MUTATE do.

The manager speaks in typed values and raises :class:`~faktory_core.errors.FaktoryError`; the
wire encoding lives in :mod:`faktory_core.server.commands`. The store, the retry policy and the
clock are resolved once at start-up and called directly on every command.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import anyio
import anyio.lowlevel
import attrs

from faktory_core.clock import Clock
from faktory_core.config import Timings
from faktory_core.errors import Discard, FaktoryError, InvalidJob, StoreError, messages
from faktory_core.gate import FetchGate, limiter
from faktory_core.middleware import Chains
from faktory_core.model import (
    DEAD_TTL,
    Failure,
    Job,
    JobFilter,
    Reservation,
    SetEntry,
    SortedSet,
    WorkerInfo,
    WorkerState,
    check_at,
    job_from_dict,
    valid_queue_name,
)
from faktory_core.retry import RetryPolicy
from faktory_core.store import FailureOutcome, Store
from faktory_core.timefmt import BadTimestamp, format_ts, parse_ts

__all__ = [
    "BURIED_ERRTYPE",
    "EXPIRED_ERRTYPE",
    "EXPIRED_MESSAGE",
    "MUTATE_CHUNK",
    "FailInfo",
    "Manager",
]

log = logging.getLogger("faktory_core.manager")

EXPIRED_ERRTYPE = "ReservationExpired"
EXPIRED_MESSAGE = "Faktory job reservation expired"
#: The ``failure.errtype`` of a job a background loop could not move and put in the dead set.
BURIED_ERRTYPE = "FaktoryCoreError"
MAX_ERRTYPE_BYTES = 100
MAX_MESSAGE_BYTES = 1000
MAX_BACKTRACE_LINES = 50
#: Bulk set operations (MUTATE, web UI "all") work in chunks of this many entries, yielding
#: to other tasks between chunks so a huge set never stalls the server.
MUTATE_CHUNK = 500
#: Jobs of one PUSHB handed to ``Store.push_many`` at a time (one script on Redis).
PUSH_CHUNK = 1000


@attrs.frozen
class FailInfo:
    """A cleansed FAIL payload (reference §3.6 step 2)."""

    jid: str
    errtype: str = "unknown"
    message: str = "unknown"
    backtrace: tuple[str, ...] = ()

    @classmethod
    def cleansed(cls, jid: str, errtype: str, message: str, backtrace: Sequence[str]) -> FailInfo:
        return cls(
            jid=jid,
            errtype=_truncate(errtype.strip() or "unknown", MAX_ERRTYPE_BYTES),
            message=_truncate(message.strip() or "unknown", MAX_MESSAGE_BYTES),
            backtrace=tuple(backtrace[:MAX_BACKTRACE_LINES]),
        )


def _error_text(exc: FaktoryError) -> str:
    """A job's entry in PUSHB's answer: the message, with its code unless that is ``ERR``."""
    return exc.message if exc.code == "ERR" else exc.wire_text()


def _check_push(job: Job) -> None:
    """What every pushed job must pass before middleware sees it, scheduled ones too
    (decisions.md: Faktory loses a scheduled job with a bad queue name when it comes due), and
    a bad ``at`` (as in Faktory)."""
    if not valid_queue_name(job.queue):
        raise InvalidJob(messages.bad_queue(job.queue))
    check_at(job)


def _truncate(text: str, limit: int) -> str:
    """At most ``limit`` UTF-8 bytes, never splitting a character (Go cuts bytes blindly)."""
    raw = text.encode()
    if len(raw) <= limit:
        return text
    return raw[:limit].decode("utf-8", "ignore")


def record_failure(job: Job, info: FailInfo, now: float) -> Job:
    """The job with its ``failure`` hash updated for one more failure (§3.6 step 6)."""
    previous = job.failure
    if previous is None:
        failure = Failure(
            retry_count=0,
            remaining=job.retry,
            failed_at=format_ts(now),
            message=info.message,
            errtype=info.errtype,
            backtrace=info.backtrace,
        )
    else:
        failure = attrs.evolve(
            previous,
            retry_count=previous.retry_count + 1,
            remaining=previous.remaining - 1 if previous.remaining > 0 else previous.remaining,
            next_at="",
            message=info.message,
            errtype=info.errtype,
            backtrace=info.backtrace,
        )
    return attrs.evolve(job, failure=failure)


@attrs.define(eq=False)
class Manager:
    store: Store
    retry_policy: RetryPolicy
    clock: Clock
    timings: Timings = attrs.field(factory=Timings)
    chains: Chains = attrs.field(factory=Chains)
    #: Plugins' fetch gates (queue throttles); none: FETCH as before.
    gates: tuple[FetchGate, ...] = attrs.field(
        default=(), on_setattr=lambda self, _, gates: self._set_limiters(gates)
    )
    #: Each gate's ``limits`` (core/gate.py), kept with ``gates``.
    _limiters: tuple[Callable[[str], bool], ...] = attrs.field(default=(), init=False)

    def __attrs_post_init__(self) -> None:
        self._set_limiters(self.gates)

    def _set_limiters(self, gates: tuple[FetchGate, ...]) -> tuple[FetchGate, ...]:
        self._limiters = tuple(limiter(gate) for gate in gates)
        return gates

    # -- push -----------------------------------------------------------------------------------

    async def push(self, job: Job) -> None:
        """Enqueue now, or schedule when ``at`` is in the future (§3.2 steps 4-7)."""
        _check_push(job)
        if self.chains.push and self.chains.wants("push", job):
            if not job.created_at:  # stamped(): attrs.evolve costs ~10 µs a push
                job = job.stamped(format_ts(self.clock.now()), job.enqueued_at)
            await Chains.run(self.chains.push, job, self._place)
        else:
            await self._place(job)

    async def _place(self, job: Job, ready: list[Job] | None = None) -> None:
        """Schedule a job whose ``at`` is ahead, else enqueue it -- or, given ``ready``, add it
        there for the caller to push with the others."""
        at = check_at(job)
        now = self.clock.now()
        stamp = format_ts(now)
        if at is not None and at > now:
            if not job.created_at:
                job = attrs.evolve(job, created_at=stamp)
            await self.store.set_add(SortedSet.SCHEDULED, at, job)
        elif ready is not None:
            ready.append(job.stamped(job.created_at or stamp, stamp))
            return
        else:
            await self.store.push(job.stamped(job.created_at or stamp, stamp))
        for observe in self.chains.pushed:
            observe((job,))

    async def push_bulk(self, items: Iterable[Any]) -> dict[str, str]:
        """PUSHB: each job checked and pushed on its own; returns jid → error text for the
        failures. With no push middleware the jobs due now go to the store together, up to
        PUSH_CHUNK at a time (one script on Redis instead of one round trip a job); middleware
        sees one job at a time."""
        errors: dict[str, str] = {}
        ready: list[Job] = []
        for item in items:
            jid = item.get("jid") if isinstance(item, dict) else None
            try:
                job = job_from_dict(item)
                if self.chains.push and self.chains.wants("push", job):
                    await self.push(job)
                else:
                    _check_push(job)
                    await self._place(job, ready)
            except FaktoryError as exc:
                errors[jid if isinstance(jid, str) else ""] = _error_text(exc)
        await self._push_ready(ready, errors)
        return errors

    async def _push_ready(self, ready: list[Job], errors: dict[str, str]) -> None:
        """Push chunk by chunk. When the store fails, that chunk's jobs and every later one's
        are reported by jid, as a failed PUSH of each would be (the client may send those
        again); the jobs of the chunks before are in, and not reported."""
        failure: FaktoryError | None = None
        for start in range(0, len(ready), PUSH_CHUNK):
            chunk = ready[start : start + PUSH_CHUNK]
            if failure is None:
                try:
                    await self.store.push_many(chunk)
                    for observe in self.chains.pushed:
                        observe(chunk)
                    continue
                except FaktoryError as exc:
                    failure = exc
            for job in chunk:
                errors[job.jid] = _error_text(failure)

    # -- fetch, ack, fail -----------------------------------------------------------------------

    async def fetch(self, queues: Sequence[str], wid: str = "", *, wait: bool = True) -> Job | None:
        """The next job of ``queues``, reserved; with ``wait``, block up to the fetch timeout
        (a quiet or terminated worker waits it out and gets nothing, §3.4)."""
        if not queues:
            raise FaktoryError(messages.FETCH_NO_QUEUE)
        # A quiet or terminated wid: the store answers None after the timeout (Store.fetch).
        deadline = self.clock.now() + (self.timings.fetch_block if wait else 0.0)
        if self.gates and self._limited(queues):
            return await self._gated_fetch(queues, wid, deadline)
        while True:
            now = self.clock.now()
            reservation = await self.store.fetch(queues, wid, now, max(deadline - now, 0.0))
            if reservation is None:
                return None
            if (
                self.gates
                and self._limited((reservation.job.queue,))
                and not await self._admit(reservation)
            ):
                # A reload throttled the queue while this FETCH waited, and it is full.
                await self.store.unreserve(reservation.job.jid)
                return await self._gated_fetch(queues, wid, deadline)
            job = await self._deliver(reservation.job)
            if job is not None:
                return job

    def _limited(self, queues: Sequence[str]) -> bool:
        """Whether a gate limits one of ``queues`` (core/gate.py, ``limits``)."""
        for limits in self._limiters:
            for name in queues:
                if limits(name):
                    return True
        return False

    async def _deliver(self, job: Job) -> Job | None:
        """A reserved job through the fetch steps (only if one of them wants it) and the
        ``fetched`` observers; None: a step dropped it (fetch the next)."""
        delivered: Job | None = job
        if self.chains.fetch and self.chains.wants("fetch", job):
            delivered = await self._fetch_middleware(job)
        if delivered is not None:
            for observe in self.chains.fetched:
                observe(delivered)
        return delivered

    async def _gated_fetch(self, queues: Sequence[str], wid: str, deadline: float) -> Job | None:
        """FETCH through the gates (core/gate.py): skip closed queues, put back a job no slot
        was left for and try the next queue, wait on the gates when every queue is closed."""
        skipped: set[str] = set()
        while True:
            now = self.clock.now()
            remaining = max(deadline - now, 0.0)
            shut = set(skipped)
            for gate in self.gates:
                shut.update(await gate.closed(queues, wid))
            open_queues = [name for name in queues if name not in shut]
            if not open_queues:
                if remaining <= 0:
                    return None
                await self.gates[0].wait(queues, remaining)
                skipped.clear()
                continue
            reservation = await self.store.fetch(open_queues, wid, now, remaining)
            if reservation is None:
                return None
            if not await self._admit(reservation):
                await self.store.unreserve(reservation.job.jid)
                skipped.add(reservation.job.queue)
                continue
            job = await self._deliver(reservation.job)
            if job is not None:
                return job

    async def _admit(self, reservation: Reservation) -> bool:
        for index, gate in enumerate(self.gates):
            if not await gate.admit(reservation):
                for taken in self.gates[:index]:
                    await taken.release(reservation.job)
                return False
        return True

    async def put_back(self, job: Job) -> None:
        """A fetched job nobody received (its worker left): back at the head of its queue,
        its throttle slot (if any) free again."""
        await self.store.unreserve(job.jid)
        await self._release(job)

    async def _release(self, job: Job) -> None:
        for gate, limits in zip(self.gates, self._limiters, strict=True):
            if limits(job.queue):
                await gate.release(job)

    async def _fetch_middleware(self, job: Job) -> Job | None:
        """Run fetch middleware: Discard drops the job (None: fetch the next one); any other
        error puts it back at the head of its queue and reaches the client (decisions.md)."""
        delivered = job

        async def deliver(final: Job) -> None:
            nonlocal delivered
            delivered = final

        try:
            await Chains.run(self.chains.fetch, job, deliver)
        except Discard as exc:
            await self.store.release(job.jid)
            for tell in self.chains.discarded:
                await tell(job, exc.message)
            await self._release(job)
            return None
        except FaktoryError:
            await self.store.unreserve(job.jid)
            await self._release(job)
            raise
        return delivered

    async def ack(self, jid: str) -> Reservation | None:
        reservation = await self.store.ack(jid, self.clock.now())
        if reservation is not None:
            if self.gates and self._limited((reservation.job.queue,)):
                await self._release(reservation.job)
            for observe in self.chains.acked:
                observe(reservation)
            if self.chains.ack and self.chains.wants("ack", reservation.job):
                await Chains.run(self.chains.ack, reservation.job)
        return reservation

    async def fail(self, info: FailInfo) -> None:
        if not info.jid:
            raise FaktoryError(messages.MISSING_JID)
        reservation = await self.store.reservation(info.jid)
        if reservation is None:
            raise FaktoryError(messages.job_not_found(info.jid))
        await self._settle(reservation, info, expired_only=False)

    async def _settle(
        self, reservation: Reservation, info: FailInfo, *, expired_only: bool
    ) -> bool:
        now = self.clock.now()
        settled = False

        async def place(job: Job) -> None:
            nonlocal settled
            outcome = await self.retry_policy.decide(job, now)
            settled = await self.store.settle_failure(
                reservation.job.jid, outcome, now, expired_only=expired_only
            )
            if settled:
                for observe in self.chains.failed:
                    observe(reservation, job)

        job = record_failure(reservation.job, info, now)
        if self.chains.fail and self.chains.wants("fail", job):
            await Chains.run(self.chains.fail, job, place)
        else:
            await place(job)
        if settled and self.gates:
            await self._release(reservation.job)
        return settled

    async def reap_reservations(self) -> int:
        """Fail every expired reservation as ReservationExpired (§5.2); returns how many.

        A reservation that cannot be failed (anything but a store outage) is logged and put in
        the dead set with the reason: one bad job must not stop the reaper. A batch that moves
        nothing ends the pass (whatever is stuck is tried again next pass, never in a loop)."""
        reaped = 0
        info = FailInfo(jid="", errtype=EXPIRED_ERRTYPE, message=EXPIRED_MESSAGE)
        while True:
            batch = await self.store.expired(self.clock.now(), self.timings.reaper_batch)
            before = reaped
            for reservation in batch:
                if await self._reap_one(reservation, info):
                    reaped += 1
            if len(batch) < self.timings.reaper_batch or reaped == before:
                return reaped

    async def _reap_one(self, reservation: Reservation, info: FailInfo) -> bool:
        try:
            return await self._settle(reservation, info, expired_only=True)
        except StoreError:
            raise  # an outage: the whole pass fails and runs again
        except Exception as exc:  # one bad job must not stop the reaper
            log.exception("the reaper could not fail job %s", reservation.job.jid)
            return await self._bury_reserved(reservation, exc)

    async def _bury_reserved(self, reservation: Reservation, exc: Exception) -> bool:
        now = self.clock.now()
        job = _with_reason(reservation.job, "the reservation expired", exc, now)
        outcome = FailureOutcome(job, SortedSet.DEAD, now + DEAD_TTL)
        try:
            return await self.store.settle_failure(job.jid, outcome, now, expired_only=True)
        except StoreError:
            raise
        except Exception:
            log.exception("could not move job %s to the dead set either", job.jid)
            return False

    async def extend_reservation(self, jid: str, until: float) -> bool:
        """Keep a job reserved until ``until`` (for plugins such as TRACK's reserve_until)."""
        return await self.store.extend(jid, until)

    # -- workers --------------------------------------------------------------------------------

    async def connect_worker(self, info: WorkerInfo) -> None:
        now = self.clock.now()
        await self.store.worker_connect(attrs.evolve(info, started_at=now, last_beat=now))

    async def beat(self, wid: str, rss_kb: int, requested: str) -> WorkerState:
        try:
            state: WorkerState | None = WorkerState(requested) if requested else None
        except ValueError:
            state = None  # other values leave the state unchanged (§3.7)
        if state is WorkerState.RUNNING:
            state = None
        info = await self.store.worker_beat(wid, rss_kb, state, self.clock.now())
        if info is None:
            raise FaktoryError(messages.unknown_worker(wid))
        return info.state

    # -- queues ---------------------------------------------------------------------------------

    async def _expand(self, names: Sequence[str]) -> list[str]:
        return await self.store.queue_names() if "*" in names else list(names)

    async def pause(self, names: Sequence[str]) -> None:
        await self.store.pause(await self._expand(names))

    async def resume(self, names: Sequence[str]) -> None:
        await self.store.resume(await self._expand(names))

    async def remove(self, names: Sequence[str]) -> None:
        await self.store.remove(await self._expand(names))

    async def latency(self, names: Sequence[str]) -> dict[str, float]:
        if list(names) == ["*"]:
            raise FaktoryError(messages.LATENCY_WILDCARD)
        result: dict[str, float] = {}
        now = self.clock.now()
        for name in names:
            job = await self.store.queue_oldest(name)
            result[name] = _age(job, now)
        return result

    # -- sorted sets ----------------------------------------------------------------------------

    async def matching_keys(self, which: SortedSet, where: JobFilter) -> list[str]:
        """Every key matching ``where``, scanned in chunks that yield between them."""
        keys: list[str] = []
        cursor = ""
        while True:
            entries, cursor = await self.store.set_scan(which, where, cursor, MUTATE_CHUNK)
            keys.extend(entry.key for entry in entries)
            if not cursor:
                return keys
            await anyio.lowlevel.checkpoint()

    async def act_on(self, which: SortedSet, action: str, keys: Sequence[str]) -> int:
        """Apply ``delete``, ``requeue`` or ``kill`` to entries, a chunk at a time."""
        done = 0
        for start in range(0, len(keys), MUTATE_CHUNK):
            chunk = keys[start : start + MUTATE_CHUNK]
            now = self.clock.now()
            if action == "delete":
                done += await self.store.set_remove(which, chunk)
            elif action == "requeue":
                done += await self.store.set_enqueue(which, chunk, now)
            elif action == "kill":
                done += await self.store.set_kill(which, chunk, now + DEAD_TTL)
            else:
                raise ValueError(f"unknown action {action!r}")
            await anyio.lowlevel.checkpoint()
        return done

    async def mutate(self, cmd: str, which: SortedSet, where: JobFilter) -> int:
        """MUTATE (§3.9): ``clear``, ``discard``, ``kill`` or ``requeue`` matching entries."""
        if cmd == "clear" or (cmd == "discard" and where.matches_all):
            return await self.store.set_clear(which)
        action = {"discard": "delete", "kill": "kill", "requeue": "requeue"}[cmd]
        return await self.act_on(which, action, await self.matching_keys(which, where))

    async def enqueue_due(self, which: SortedSet) -> int:
        """Move due scheduled jobs or retries to their queues, batch by batch (§5.1).

        When the store fails on a batch for anything but an outage, that batch is moved one
        entry at a time, and an entry that still fails goes to the dead set with the reason."""
        moved = 0
        while True:
            try:
                count = await self.store.enqueue_due(which, self.clock.now(), self.timings.batch)
            except StoreError:
                raise
            except Exception:
                log.exception("moving due %s failed; moving them one at a time", which.value)
                return moved + await self._enqueue_due_singly(which)
            moved += count
            if count < self.timings.batch:
                return moved

    async def _enqueue_due_singly(self, which: SortedSet) -> int:
        now = self.clock.now()
        moved = 0
        for entry in await self.store.set_page(which, 0, self.timings.batch):
            if entry.score > now:
                break
            try:
                moved += await self.store.set_enqueue(which, [entry.key], now)
            except StoreError:
                raise
            except Exception as exc:  # one bad entry must not stop the loop
                log.exception("could not enqueue job %s from %s", entry.job.jid, which.value)
                await self._bury_entry(which, entry, exc)
        return moved

    async def _bury_entry(self, which: SortedSet, entry: SetEntry, exc: Exception) -> None:
        now = self.clock.now()
        job = _with_reason(entry.job, f"it came due in {which.value}", exc, now)
        try:
            await self.store.set_add(SortedSet.DEAD, now + DEAD_TTL, job)
        except StoreError:
            raise
        except Exception:
            log.exception("could not move job %s to the dead set either", job.jid)
            return
        await self.store.set_remove(which, [entry.key])


def _with_reason(job: Job, when: str, exc: Exception, now: float) -> Job:
    """The job with a failure saying why a background loop gave up on it."""
    message = f"faktory-core could not move this job when {when}: {type(exc).__name__}: {exc}"
    info = FailInfo.cleansed(job.jid, BURIED_ERRTYPE, message, ())
    return record_failure(job, info, now)


def _age(job: Job | None, now: float) -> float:
    if job is None or not job.enqueued_at:
        return 0
    try:
        return max(0.0, now - parse_ts(job.enqueued_at))
    except BadTimestamp:
        return 0
