"""The Prometheus text exposition of one server, produced by ``prometheus_client``.

A scrape reads a :class:`~.snapshot.Snapshot` (the store's numbers) and copies the
:class:`~.recorder.Recorder`'s counts on the event loop, then renders, in a worker thread (a big
scrape takes tens of milliseconds the loop keeps for clients), the families of
:class:`FaktoryCollector` and ``prometheus_client``'s process collector (CPU and memory) with
``generate_latest``. Nothing is registered globally and nothing runs on the job path.
docs/metrics.md lists every name.
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
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4, generate_latest

from faktory_core.plugins.metrics.recorder import BUCKETS, Counts, Pair, Recorder
from faktory_core.plugins.metrics.snapshot import Snapshot, take_snapshot

if TYPE_CHECKING:
    from faktory_core.server.app import Server

__all__ = ["CONTENT_TYPE", "PREFIX", "FaktoryCollector", "render", "scrape"]

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
        yield from self._jobs()
        yield from self._store()
        yield from self._server()
        yield from self._plugin_counters()

    def _jobs(self) -> Iterator[Metric]:
        counts = {
            "jobs_pushed": self.recorder.pushed,
            "jobs_fetched": self.recorder.fetched,
            "jobs_acked": self.recorder.acked,
            "jobs_failed": self.recorder.failed,
        }
        for name, text in JOB_COUNTERS.items():
            yield _pairs(
                CounterMetricFamily(PREFIX + name, text, labels=["queue", "jobtype"]), counts[name]
            )
        family = HistogramMetricFamily(
            PREFIX + "job_execution_seconds",
            "Time from FETCH to ACK or FAIL (or the reaper), by job type and outcome.",
            labels=["jobtype", "outcome"],
        )
        for (jobtype, outcome), values in sorted(self.recorder.histograms.items()):
            cumulative, buckets = 0.0, []
            for le, count in zip(_LE, values[:-1], strict=True):
                cumulative += count
                buckets.append((le, cumulative))
            family.add_metric([jobtype, outcome], buckets, values[-1])
        yield family

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


def _pairs(family: CounterMetricFamily, counts: dict[Pair, int]) -> CounterMetricFamily:
    for (queue, jobtype), value in sorted(counts.items()):
        family.add_metric([queue, jobtype], value)
    return family


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
    return generate_latest(scrape)


async def scrape(server: Server, recorder: Recorder) -> bytes:
    snapshot = await take_snapshot(server)
    return await anyio.to_thread.run_sync(render, snapshot, recorder.counts())
