"""The job families written by hand are exactly what ``prometheus_client`` would write."""

from __future__ import annotations

from collections.abc import Iterator

from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.exposition import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from faktory_core.plugins.metrics.prometheus import (
    _LE,
    HISTOGRAM,
    HISTOGRAM_HELP,
    JOB_COUNTERS,
    PREFIX,
    job_families,
)
from faktory_core.plugins.metrics.recorder import BUCKETS, Counts

#: Label values with what the text format escapes, non-ASCII text and plain names.
labels = st.text(alphabet=st.sampled_from('ab_\\"\n é€😀'), min_size=1, max_size=6)
pairs = st.dictionaries(st.tuples(labels, labels), st.integers(0, 10**12), max_size=6)
histogram = st.tuples(
    st.lists(st.integers(0, 10**7), min_size=len(BUCKETS) + 1, max_size=len(BUCKETS) + 1),
    st.floats(0, 1e9, allow_nan=False),
).map(lambda found: [*map(float, found[0]), found[1]])
histograms = st.dictionaries(st.tuples(labels, st.sampled_from(["success", 'x"y'])), histogram)


class _Reference:
    """The same families built with prometheus_client's classes, for generate_latest."""

    def __init__(self, counts: Counts) -> None:
        self.counts = counts

    def collect(self) -> Iterator[Metric]:
        c = self.counts
        for (name, text), found in zip(
            JOB_COUNTERS.items(), (c.pushed, c.fetched, c.acked, c.failed), strict=True
        ):
            family = CounterMetricFamily(PREFIX + name, text, labels=["queue", "jobtype"])
            for (queue, jobtype), value in sorted(found.items()):
                family.add_metric([queue, jobtype], value)
            yield family
        hist = HistogramMetricFamily(
            PREFIX + HISTOGRAM, HISTOGRAM_HELP, labels=["jobtype", "outcome"]
        )
        for (jobtype, outcome), values in sorted(c.histograms.items()):
            cumulative, buckets = 0.0, []
            for le, count in zip(_LE, values[:-1], strict=True):
                cumulative += count
                buckets.append((le, cumulative))
            hist.add_metric([jobtype, outcome], buckets, values[-1])
        yield hist


@settings(max_examples=200, deadline=None)
@given(pairs, pairs, pairs, pairs, histograms)
def test_job_families_match_generate_latest(
    pushed: dict[tuple[str, str], int],
    fetched: dict[tuple[str, str], int],
    acked: dict[tuple[str, str], int],
    failed: dict[tuple[str, str], int],
    found: dict[tuple[str, str], list[float]],
) -> None:
    counts = Counts(pushed, fetched, acked, failed, found, jobtypes=0, queues=0)
    ours = job_families(counts)
    assert ours == generate_latest(_Reference(counts)).decode()
    names = [family.name for family in text_string_to_metric_families(ours)]
    assert names == [PREFIX + name for name in JOB_COUNTERS] + [PREFIX + HISTOGRAM]
