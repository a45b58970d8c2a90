"""What the metrics plugin counts on the job path, and the middleware that counts it.

The middleware only observes (``pushed``, ``fetched``, ``acked``, ``failed``): a function call
per event, no chain. An execution's time is the ACK's or FAIL's time less the reservation's
``reserved_at`` (its FETCH's time, kept by the store): so a job fetched on one server and ACKed
on another, or after a restart, is timed too.

Everything here runs on the server's one event loop, so a count is a dictionary entry: no lock,
no registry call. The Prometheus collector, the statsd loop and the Metrics page read these
values when they need them.

Label values are bounded (:class:`Labeller`): after ``limit`` distinct job types (or queues), a
value that is new, longer than :data:`MAX_LABEL_CHARS` or not printable is counted under
:data:`OVERFLOW`, so a client cannot blow up the metrics' memory with absurd job types.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable, Iterator, Sequence

import attrs

from faktory_core.clock import Clock
from faktory_core.manager import EXPIRED_ERRTYPE
from faktory_core.middleware import JobMiddleware
from faktory_core.model import Job, Reservation

__all__ = [
    "BUCKETS",
    "MAX_LABEL_CHARS",
    "MINUTES_KEPT",
    "OUTCOMES",
    "OVERFLOW",
    "Counts",
    "Labeller",
    "MetricsMiddleware",
    "Minute",
    "Recorder",
]

#: Upper bounds (seconds) of the execution-time histogram's buckets; ``+Inf`` follows.
BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 60.0, 300.0, 1800.0)
#: A job's outcome: ACKed, FAILed, or failed by the reaper when its reservation expired.
SUCCESS, FAILURE, EXPIRED = "success", "failure", "expired"
OUTCOMES = (SUCCESS, FAILURE, EXPIRED)
#: The label every value past the limit (or unfit to be a label) is counted under.
OVERFLOW = "(other)"
MAX_LABEL_CHARS = 200
DEFAULT_LABEL_LIMIT = 1000
#: Minute buckets kept for the Metrics page (24 hours).
MINUTES_KEPT = 24 * 60
_PRINTABLE = re.compile(r"[^\x00-\x1f\x7f]*")

#: A minute bucket's slots: processed, failed, seconds, then one count per histogram bucket.
PROCESSED, FAILED, SECONDS, FIRST_BUCKET = 0, 1, 2, 3
Minute = list[float]
Pair = tuple[str, str]


@attrs.define(eq=False)
class Labeller:
    """Maps raw values to label values, admitting at most ``limit`` distinct ones."""

    limit: int = DEFAULT_LABEL_LIMIT
    _known: dict[str, str] = attrs.field(factory=dict)

    def __call__(self, value: str) -> str:
        label = self._known.get(value)
        return label if label is not None else self._admit(value)

    def _admit(self, value: str) -> str:
        if (
            len(self._known) >= self.limit
            or len(value) > MAX_LABEL_CHARS
            or not _PRINTABLE.fullmatch(value)
        ):
            return OVERFLOW
        self._known[value] = value
        return value

    def __len__(self) -> int:
        return len(self._known)


@attrs.frozen
class Counts:
    """A copy of a :class:`Recorder`'s counts, safe to read away from the event loop."""

    pushed: dict[Pair, int]
    fetched: dict[Pair, int]
    acked: dict[Pair, int]
    failed: dict[Pair, int]
    histograms: dict[Pair, list[float]]
    jobtypes: int
    queues: int


@attrs.define(eq=False)
class Recorder:
    """The per-job counts, execution times and minute buckets of one server."""

    clock: Clock
    jobtypes: Labeller = attrs.field(factory=Labeller)
    queues: Labeller = attrs.field(factory=Labeller)
    pushed: dict[Pair, int] = attrs.field(factory=dict)
    fetched: dict[Pair, int] = attrs.field(factory=dict)
    acked: dict[Pair, int] = attrs.field(factory=dict)
    failed: dict[Pair, int] = attrs.field(factory=dict)
    #: (jobtype, outcome) → [count per bucket (the last is +Inf), sum of seconds].
    histograms: dict[Pair, list[float]] = attrs.field(factory=dict)
    #: minute (Unix time // 60) → jobtype label → :data:`Minute` slots.
    minutes: dict[int, dict[str, Minute]] = attrs.field(factory=dict)
    #: Called for every finished execution: (queue, jobtype, outcome, seconds).
    listeners: list[Callable[[str, str, str, float], None]] = attrs.field(factory=list)
    _minute: int = -1
    #: The current minute's rows (``minutes[_minute]``).
    _rows: dict[str, Minute] = attrs.field(factory=dict)
    _keys: dict[Pair, Pair] = attrs.field(factory=dict)

    def labels(self, job: Job) -> Pair:
        """(queue, jobtype) labels of ``job``; pairs of admitted values are cached as is."""
        raw = (job.queue, job.jobtype)
        found = self._keys.get(raw)
        if found is None:
            found = (self.queues(job.queue), self.jobtypes(job.jobtype))
            if found == raw:
                self._keys[raw] = found
        return found

    def on_pushed(self, jobs: Sequence[Job]) -> None:
        pushed, labels = self.pushed, self.labels
        for job in jobs:
            key = labels(job)
            pushed[key] = pushed.get(key, 0) + 1

    def on_fetched(self, job: Job) -> None:
        key = self._keys.get((job.queue, job.jobtype)) or self.labels(job)
        fetched = self.fetched
        fetched[key] = fetched.get(key, 0) + 1

    def on_acked(self, reservation: Reservation) -> None:
        self.on_finished(reservation, reservation.job, SUCCESS)

    def on_finished(self, reservation: Reservation, job: Job, outcome: str) -> None:
        # The hot path of every ACK: locals, no helper calls but the minute's row when it
        # changes (docs/performance.md, issue 20).
        key = self._keys.get((job.queue, job.jobtype)) or self.labels(job)
        counts = self.acked if outcome == SUCCESS else self.failed
        counts[key] = counts.get(key, 0) + 1
        now = self.clock.now()
        seconds = now - reservation.reserved_at
        if seconds < 0.0:
            seconds = 0.0
        slot = bisect.bisect_left(BUCKETS, seconds)
        jobtype = key[1]
        histogram = self.histograms.get((jobtype, outcome))
        if histogram is None:
            histogram = self.histograms[(jobtype, outcome)] = [0.0] * (len(BUCKETS) + 2)
        histogram[slot] += 1
        histogram[-1] += seconds
        row = self._rows.get(jobtype) if int(now // 60) == self._minute else None
        if row is None:
            row = self._minute_row(jobtype, now)
        row[PROCESSED] += 1
        if outcome != SUCCESS:
            row[FAILED] += 1
        row[SECONDS] += seconds
        row[FIRST_BUCKET + slot] += 1
        if self.listeners:
            for listener in self.listeners:
                listener(key[0], jobtype, outcome, seconds)

    def _minute_row(self, jobtype: str, now: float) -> Minute:
        minute = int(now // 60)
        if minute != self._minute:
            self._minute = minute
            for old in [m for m in self.minutes if m <= minute - MINUTES_KEPT]:
                del self.minutes[old]
            self._rows = self.minutes.setdefault(minute, {})
        row = self._rows.get(jobtype)
        if row is None:
            row = self._rows[jobtype] = [0.0] * (FIRST_BUCKET + len(BUCKETS) + 1)
        return row

    def counts(self) -> Counts:
        return Counts(
            pushed=dict(self.pushed),
            fetched=dict(self.fetched),
            acked=dict(self.acked),
            failed=dict(self.failed),
            histograms={key: list(values) for key, values in self.histograms.items()},
            jobtypes=len(self.jobtypes),
            queues=len(self.queues),
        )

    def window(self, minutes: int) -> Iterator[tuple[int, dict[str, Minute]]]:
        """The minute buckets of the last ``minutes`` minutes, oldest first."""
        now = int(self.clock.now() // 60)
        for minute in range(now - minutes + 1, now + 1):
            yield minute, self.minutes.get(minute, {})


class MetricsMiddleware(JobMiddleware):
    """Observes every push, fetch, ACK and FAIL into a :class:`Recorder`.

    The observers the chains call are the recorder's own methods, bound per instance: one
    Python frame less per job and event than a method here forwarding to them. The methods
    below stay, so the core sees that this middleware observes all four (``_overrides``), and
    for anyone calling them directly.
    """

    def __init__(self, recorder: Recorder) -> None:
        self.recorder = recorder
        self.pushed = recorder.on_pushed  # type: ignore[method-assign]
        self.fetched = recorder.on_fetched  # type: ignore[method-assign]
        self.acked = recorder.on_acked  # type: ignore[method-assign]

    def pushed(self, jobs: Sequence[Job]) -> None:
        self.recorder.on_pushed(jobs)

    def fetched(self, job: Job) -> None:
        self.recorder.on_fetched(job)

    def acked(self, reservation: Reservation) -> None:
        self.recorder.on_acked(reservation)

    def failed(self, reservation: Reservation, job: Job) -> None:
        expired = job.failure is not None and job.failure.errtype == EXPIRED_ERRTYPE
        self.recorder.on_finished(reservation, job, EXPIRED if expired else FAILURE)
