"""DogStatsD in Faktory Enterprise's names (reference enterprise.md §7), over UDP or a Unix socket.

Lines wait in a buffer and leave in datagrams of up to ``bufferSize`` lines (and
:data:`MAX_PACKET` bytes), when the buffer is full and every :data:`FLUSH_SECONDS`. The socket
is non-blocking and a send that fails (no agent, a full buffer) drops its datagram and counts it
in ``dropped``: a statsd agent that is down costs the server nothing.

What is sent:

- per ACK or FAIL: ``jobs.count`` (c), per FAIL ``jobs.failed`` (c), per ACK ``jobs.perform``
  (ms, FETCH → ACK), tagged ``queue:<q>,jobtype:<t>``;
- plugin counters (``server.counters``) as counters of their deltas every second:
  ``expired`` → ``jobs.expired``, ``unique_denied`` → ``uniq.denied``, ``unique_locked`` →
  ``uniq.lock``, any other name as it is, tagged with its labels;
- every :data:`GLOBALS_SECONDS`: the gauges ``processed``, ``failures``, ``enqueued``,
  ``scheduled``, ``retries``, ``dead``, ``working``, ``connections``, ``queue.size`` (tagged
  ``queue:<q>``) and ``enqueued.<queue>`` per queue, ``queue.latency`` and ``latency.<queue>``
  for the ``queueLatency`` queues, and ``ops.redis.rtt_us`` (the store's stats read, µs).
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterable
from typing import TYPE_CHECKING

import anyio
import attrs

from faktory_core.counters import Labels
from faktory_core.plugins.metrics.recorder import SUCCESS
from faktory_core.plugins.metrics.settings import StatsdSettings
from faktory_core.plugins.metrics.snapshot import take_snapshot

if TYPE_CHECKING:
    from faktory_core.server.app import Server

__all__ = ["COUNTER_NAMES", "FLUSH_SECONDS", "GLOBALS_SECONDS", "MAX_PACKET", "Intervals", "Statsd"]

log = logging.getLogger("faktory_core.plugins.metrics")

FLUSH_SECONDS = 0.1
GLOBALS_SECONDS = 30.0
COUNTERS_SECONDS = 1.0
#: Bytes per datagram at most (fits a 1500-byte Ethernet frame with IP and UDP headers).
MAX_PACKET = 1432
#: ``server.counters`` names with an Enterprise statsd name.
COUNTER_NAMES = {
    "expired": "jobs.expired",
    "unique_denied": "uniq.denied",
    "unique_locked": "uniq.lock",
}
_UNSAFE = str.maketrans({",": "_", "|": "_", "#": "_", "\n": "_", "\r": "_", " ": "_"})


def _tag(key: str, value: str) -> str:
    return f"{key}:{value.translate(_UNSAFE)}"


@attrs.frozen
class Intervals:
    """Seconds between flushes, counter reports and global reports (tests shorten them)."""

    flush: float = FLUSH_SECONDS
    counters: float = COUNTERS_SECONDS
    globals: float = GLOBALS_SECONDS


@attrs.define(eq=False)
class Statsd:
    """A DogStatsD client for one server: a buffer, a socket, and the loop that feeds both."""

    settings: StatsdSettings
    every: Intervals = attrs.field(factory=Intervals)
    sent: int = 0
    dropped: int = 0
    _lines: list[str] = attrs.field(factory=list)
    _sock: socket.socket | None = None
    _target: str | tuple[str, int] | None = None
    _last_counters: dict[tuple[str, Labels], float] = attrs.field(factory=dict)
    #: (queue, jobtype) labels → the formatted ``|#tags`` of its job lines (labels are bounded).
    _job_tags: dict[tuple[str, str], str] = attrs.field(factory=dict)

    # -- the wire -------------------------------------------------------------------------------

    def _line(self, name: str, value: float | int, kind: str, tags: Iterable[str] = ()) -> None:
        every = [*self.settings.tags, *tags]
        text = f"{self.settings.namespace}{name}:{value:g}|{kind}"
        self._lines.append(f"{text}|#{','.join(every)}" if every else text)
        if len(self._lines) >= self.settings.buffer_size:
            self.flush()

    def count(self, name: str, value: float = 1, tags: Iterable[str] = ()) -> None:
        self._line(name, value, "c", tags)

    def gauge(self, name: str, value: float, tags: Iterable[str] = ()) -> None:
        self._line(name, value, "g", tags)

    def timing(self, name: str, millis: float, tags: Iterable[str] = ()) -> None:
        self._line(name, millis, "ms", tags)

    def flush(self) -> None:
        lines, self._lines = self._lines, []
        packet: list[str] = []
        size = 0
        for line in lines:
            if packet and size + len(line) + 1 > MAX_PACKET:
                self._send(packet)
                packet, size = [], 0
            packet.append(line)
            size += len(line) + 1
        if packet:
            self._send(packet)

    def _send(self, lines: list[str]) -> None:
        if self._sock is None or self._target is None:
            self.dropped += len(lines)
            return
        try:
            self._sock.sendto("\n".join(lines).encode(), self._target)
            self.sent += len(lines)
        except OSError:  # no agent, a full buffer: drop, never wait
            self.dropped += len(lines)

    async def open(self) -> None:
        kind, host, port = self.settings.address
        try:
            if kind == "unix":
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
                self._target = host
            else:
                found = await anyio.getaddrinfo(host, port, type=socket.SOCK_DGRAM)
                family, _, _, _, address = found[0]
                sock = socket.socket(family, socket.SOCK_DGRAM)
                self._target = (str(address[0]), int(address[1]))
        except OSError as exc:
            log.warning("statsd: cannot reach %s:%s (%s); metrics are dropped", host, port, exc)
            return
        sock.setblocking(False)
        self._sock = sock

    def close(self) -> None:
        self.flush()
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    # -- what is sent ---------------------------------------------------------------------------

    def on_finished(self, queue: str, jobtype: str, outcome: str, seconds: float) -> None:
        """One job done: its lines, with the tags of its (queue, jobtype) formatted once."""
        suffix = self._job_tags.get((queue, jobtype))
        if suffix is None:
            tags = (*self.settings.tags, _tag("queue", queue), _tag("jobtype", jobtype))
            suffix = self._job_tags[(queue, jobtype)] = "|#" + ",".join(tags)
        namespace, lines = self.settings.namespace, self._lines
        lines.append(f"{namespace}jobs.count:1|c{suffix}")
        if outcome != SUCCESS:
            lines.append(f"{namespace}jobs.failed:1|c{suffix}")
        else:
            lines.append(f"{namespace}jobs.perform:{round(seconds * 1000, 6):g}|ms{suffix}")
        if len(lines) >= self.settings.buffer_size:
            self.flush()

    def send_counters(self, server: Server) -> None:
        for name, labels, value in server.counters.items():
            before = self._last_counters.get((name, labels), 0)
            if value != before:
                self._last_counters[(name, labels)] = value
                tags = [_tag(key, label) for key, label in labels]
                self.count(COUNTER_NAMES.get(name, name), value - before, tags)

    async def send_globals(self, server: Server) -> None:
        snap = await take_snapshot(server, self.settings.queue_latency)
        stats = snap.stats
        for name, value in (
            ("processed", stats.processed),
            ("failures", stats.failures),
            ("enqueued", sum(stats.queues.values())),
            ("scheduled", stats.scheduled),
            ("retries", stats.retries),
            ("dead", stats.dead),
            ("working", stats.working),
            ("connections", snap.connections),
            ("ops.redis.rtt_us", round(snap.store_seconds * 1_000_000)),
        ):
            self.gauge(name, value)
        for queue, size in sorted(stats.queues.items()):
            self.gauge("queue.size", size, [_tag("queue", queue)])
            self.gauge(f"enqueued.{queue}", size)
        for queue, seconds in snap.latencies.items():
            self.gauge("queue.latency", seconds, [_tag("queue", queue)])
            self.gauge(f"latency.{queue}", seconds)
        self.flush()

    async def run(self, server: Server) -> None:
        """Flush, report the counters and the globals, each on its interval, until cancelled."""
        clock = anyio.current_time
        next_counters = next_globals = clock()
        while True:
            now = clock()
            if now >= next_counters:
                self.send_counters(server)
                next_counters = now + self.every.counters
            if now >= next_globals:
                next_globals = now + self.every.globals
                try:
                    await self.send_globals(server)
                except Exception as exc:  # a store outage: the next report comes on time
                    log.warning("statsd: could not read the server's numbers: %r", exc)
            self.flush()
            await anyio.sleep(self.every.flush)
