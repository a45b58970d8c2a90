"""The Prometheus text exposition of one server, produced by ``prometheus_client``.

A scrape reads a :class:`~.snapshot.Snapshot` (the store's numbers) and copies the
:class:`~.recorder.Recorder`'s counts on the event loop, then renders, in a worker thread (a big
scrape takes tens of milliseconds the loop keeps for clients). The job families — one sample per
queue and job type, thirteen buckets per job type and outcome, tens of thousands of lines with
many of either — are written by :func:`job_families` straight from the counts, in exactly the
text ``prometheus_client``'s ``generate_latest`` would write for them (a test compares the two);
the other families of :class:`FaktoryCollector` and ``prometheus_client``'s process collector
(CPU and memory) go through ``generate_latest``. Nothing is registered globally and nothing runs
on the job path. docs/metrics.md lists every name.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

import anyio.to_thread
from prometheus_client import ProcessCollector
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    Metric,
)
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4, generate_latest
from prometheus_client.utils import floatToGoString

from faktory_core.plugins.metrics.recorder import BUCKETS, Counts, Recorder
from faktory_core.plugins.metrics.snapshot import Snapshot, take_snapshot

if TYPE_CHECKING:
    from faktory_core.server.app import Server

__all__ = ["CONTENT_TYPE", "PREFIX", "FaktoryCollector", "job_families", "render", "scrape"]

PREFIX = "faktory_"
#: The classic text format (0.0.4), which every Prometheus version reads.
CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4
#: The job counters: family name (without ``_total``) → help text.
JOB_COUNTERS = {
    "jobs_pushed": "Jobs pushed (PUSH, PUSHB), by queue and job type.",
    "jobs_fetched": "Jobs handed to a worker by FETCH, by queue and job type.",
    "jobs_acked": "Jobs ACKed, by queue and job type.",
    "jobs_failed": "Jobs FAILed or failed by the reaper, by queue and job type.",
}
#: Names the core's families use: a plugin counter by one of these names is left out.
RESERVED = frozenset(
    {*JOB_COUNTERS, "processed", "failures", "job_execution_seconds", "queue_size"}
)
HISTOGRAM = "job_execution_seconds"
HISTOGRAM_HELP = "Time from FETCH to ACK or FAIL (or the reaper), by job type and outcome."
_NOT_NAME = re.compile(r"[^a-zA-Z0-9_]")
_LE = [*(repr(bound) for bound in BUCKETS), "+Inf"]


def _name(raw: str) -> str:
    name = _NOT_NAME.sub("_", raw)
    return "_" + name if name[:1].isdigit() else name


class FaktoryCollector:
    """The ``faktory_*`` families of one scrape."""

    def __init__(self, snapshot: Snapshot, counts: Counts) -> None:
        self.snapshot = snapshot
        self.recorder = counts

    def collect(self) -> Iterator[Metric]:
        """The families after the job families (those are :func:`job_families`'s)."""
        yield from self._store()
        yield from self._server()
        yield from self._plugin_counters()

    def _store(self) -> Iterator[Metric]:
        stats = self.snapshot.stats
        yield CounterMetricFamily(
            PREFIX + "processed",
            "Jobs processed (INFO total_processed), kept by the store.",
            value=stats.processed,
        )
        yield CounterMetricFamily(
            PREFIX + "failures",
            "Failed executions (INFO total_failures), kept by the store.",
            value=stats.failures,
        )
        queues = sorted(stats.queues.items())
        yield _gauges("queue_size", "Jobs enqueued, by queue.", "queue", queues)
        yield _gauges(
            "queue_latency_seconds",
            "Age of the oldest job in the queue (0 when empty), by queue.",
            "queue",
            self.snapshot.latencies.items(),
        )
        sets = (
            ("retries", stats.retries),
            ("scheduled", stats.scheduled),
            ("dead", stats.dead),
            ("working", stats.working),
        )
        yield _gauges(
            "set_size", "Jobs in the retries, scheduled, dead and working sets.", "set", sets
        )
        yield GaugeMetricFamily(
            PREFIX + "store_roundtrip_seconds",
            "Time the store took to answer the stats read of this scrape.",
            value=self.snapshot.store_seconds,
        )

    def _server(self) -> Iterator[Metric]:
        snap = self.snapshot
        connections = GaugeMetricFamily(
            PREFIX + "connections", "Client connections, by state.", labels=["state"]
        )
        connections.add_metric(["identified"], snap.connections)
        connections.add_metric(["handshaking"], snap.handshaking)
        yield connections
        workers = sorted(snap.workers.items())
        yield _gauges("workers", "Workers known to the store, by state.", "state", workers)
        yield GaugeMetricFamily(
            PREFIX + "uptime_seconds", "Seconds since this server started.", value=snap.uptime
        )
        info = GaugeMetricFamily(
            PREFIX + "server_info",
            "Always 1: the server's description and store.",
            labels=["description", "store"],
        )
        info.add_metric([snap.description, snap.store], 1)
        yield info
        labels = GaugeMetricFamily(
            PREFIX + "label_values",
            "Distinct job types and queues the job metrics track (bounded; see docs/metrics.md).",
            labels=["label"],
        )
        labels.add_metric(["jobtype"], self.recorder.jobtypes)
        labels.add_metric(["queue"], self.recorder.queues)
        yield labels

    def _plugin_counters(self) -> Iterator[Metric]:
        """Every ``server.counters`` entry as ``faktory_<name>_total``, with its labels."""
        grouped: dict[tuple[str, tuple[str, ...]], list[tuple[tuple[str, ...], float]]] = {}
        for raw, labels, value in self.snapshot.counters:
            name = _name(raw)
            if name in RESERVED:
                continue
            label_names = tuple(_name(key) for key, _ in labels)
            grouped.setdefault((name, label_names), []).append(
                (tuple(value for _, value in labels), value)
            )
        seen: set[str] = set()
        for (name, label_names), samples in sorted(grouped.items()):
            if name in seen:  # the same name with other label names: Prometheus refuses it
                continue
            seen.add(name)
            family = CounterMetricFamily(
                PREFIX + name, f"Events counted by a plugin as {name!r}.", labels=label_names
            )
            for values, value in samples:
                family.add_metric(list(values), value)
            yield family


def _gauges(
    name: str, text: str, label: str, values: Iterable[tuple[str, float]]
) -> GaugeMetricFamily:
    family = GaugeMetricFamily(PREFIX + name, text, labels=[label])
    for key, value in values:
        family.add_metric([key], value)
    return family


def _label(value: str) -> str:
    """A label value escaped as the text format wants it (backslash, newline, double quote)."""
    return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")


class _Numbers(dict[float, str]):
    """Sample values as Go prints them (``floatToGoString``), each distinct value once."""

    def __missing__(self, value: float) -> str:
        text: str = floatToGoString(value)  # type: ignore[no-untyped-call]
        self[value] = text
        return text


def job_families(counts: Counts) -> str:
    """The four job counters and the execution-time histogram, as exposition text."""
    numbers, out = _Numbers(), []
    counters = (counts.pushed, counts.fetched, counts.acked, counts.failed)
    for (name, text), pairs in zip(JOB_COUNTERS.items(), counters, strict=True):
        full = f"{PREFIX}{name}_total"
        out.append(f"# HELP {full} {text}\n# TYPE {full} counter\n")
        for (queue, jobtype), value in sorted(pairs.items()):
            labels = f'jobtype="{_label(jobtype)}",queue="{_label(queue)}"'
            out.append(f"{full}{{{labels}}} {numbers[value]}\n")
    full = PREFIX + HISTOGRAM
    out.append(f"# HELP {full} {HISTOGRAM_HELP}\n# TYPE {full} histogram\n")
    for (jobtype, outcome), values in sorted(counts.histograms.items()):
        head = f'{full}_bucket{{jobtype="{_label(jobtype)}",le="'
        tail = f'",outcome="{_label(outcome)}"}} '
        cumulative = 0.0
        for le, count in zip(_LE, values[:-1], strict=True):
            cumulative += count
            out.append(f"{head}{le}{tail}{numbers[cumulative]}\n")
        labels = f'jobtype="{_label(jobtype)}",outcome="{_label(outcome)}"'
        out.append(f"{full}_count{{{labels}}} {numbers[cumulative]}\n")
        out.append(f"{full}_sum{{{labels}}} {numbers[values[-1]]}\n")
    return "".join(out)


class _Scrape:
    """What ``generate_latest`` reads: our families, then the process's."""

    def __init__(self, collectors: Iterable[FaktoryCollector | ProcessCollector]) -> None:
        self.collectors = collectors

    def collect(self) -> Iterator[Metric]:
        for collector in self.collectors:
            yield from collector.collect()


def render(snapshot: Snapshot, counts: Counts) -> bytes:
    """The exposition text for ``snapshot`` and ``counts``."""
    scrape = _Scrape([FaktoryCollector(snapshot, counts), ProcessCollector(registry=None)])
    return job_families(counts).encode() + generate_latest(scrape)


async def scrape(server: Server, recorder: Recorder) -> bytes:
    snapshot = await take_snapshot(server)
    return await anyio.to_thread.run_sync(render, snapshot, recorder.counts())
