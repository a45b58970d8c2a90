"""Faktory's retry policy: drop, retry with backoff, or dead (reference §5.3, §5.4)."""

from __future__ import annotations

import random

import attrs
import pytest

from faktory_core.config import Config
from faktory_core.model import DEAD_TTL, Failure, Job, SortedSet
from faktory_core.retry import (
    MAX_BACKOFF_SECONDS,
    FaktoryRetryPolicy,
    RetryPolicy,
    backoff_seconds,
    faktory_core_make_retry_policy,
)
from faktory_core.store import FailureOutcome
from faktory_core.timefmt import format_ts

NOW = 1_750_000_000.0
DAY = 86400


class FixedJitter(random.Random):
    """A Random whose randrange always returns ``value`` and records its arguments."""

    def __init__(self, value: int) -> None:
        super().__init__(0)
        self.value = value
        self.calls: list[tuple[int, ...]] = []

    def randrange(self, *args: int, **kwargs: object) -> int:  # type: ignore[override]
        self.calls.append(args)
        return self.value


def failed(retry: int, retry_count: int | None = 0) -> Job:
    failure = None
    if retry_count is not None:
        failure = Failure(retry_count=retry_count, remaining=retry, failed_at=format_ts(NOW))
    return Job(jid="0123456789abcdef", jobtype="T", args=[], retry=retry, failure=failure)


# -- backoff ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("count", "low", "high"),
    [
        (0, 15, 44),
        (1, 16, 74),
        (2, 31, 118),
        (3, 96, 212),
        (4, 271, 416),
        (5, 640, 814),
        (10, 10015, 10334),
        (15, 50640, 51104),
        (20, 160015, 160624),
        (24, 331791, 332516),
    ],
)
def test_backoff_table(count: int, low: int, high: int) -> None:
    assert backoff_seconds(count, 0) == low
    assert backoff_seconds(count, 29) == high


def test_backoff_formula() -> None:
    for count in range(30):
        for jitter in range(30):
            assert backoff_seconds(count, jitter) == count**4 + 15 + jitter * (count + 1)


def test_default_retries_take_about_three_weeks() -> None:
    low = sum(backoff_seconds(count, 0) for count in range(25))
    high = sum(backoff_seconds(count, 29) for count in range(25))
    assert 20.4 < low / DAY < 20.5
    assert high / DAY < 21.5


def test_backoff_is_faktorys_up_to_the_cap() -> None:
    # 309 is the last count whose delay fits a Go time.Duration: Faktory's value, unchanged.
    assert backoff_seconds(309, 29) == 309**4 + 15 + 29 * 310 < MAX_BACKOFF_SECONDS
    assert MAX_BACKOFF_SECONDS == 9_223_372_036  # math.MaxInt64 nanoseconds, in seconds


@pytest.mark.parametrize("count", [310, 709, 10**6, 10**100, -(10**100), -310])
def test_backoff_is_capped(count: int) -> None:
    assert backoff_seconds(count, 0) == MAX_BACKOFF_SECONDS
    assert backoff_seconds(count, 29) == MAX_BACKOFF_SECONDS


@pytest.mark.parametrize("count", [-1, -2, -5, -309])
def test_negative_counts_never_go_back_in_time(count: int) -> None:
    assert all(backoff_seconds(count, jitter) >= 0 for jitter in range(30))


@pytest.mark.parametrize("count", [708, 709, 10**9])
async def test_a_huge_retry_count_gets_a_writable_date(count: int) -> None:
    # Was "year out of range": the FAIL answered -ERR internal error, the reaper stuck.
    job = failed(retry=10**12, retry_count=count)
    outcome = await FaktoryRetryPolicy(FixedJitter(29)).decide(job, NOW)
    assert outcome.destination is SortedSet.RETRIES
    assert outcome.score == NOW + MAX_BACKOFF_SECONDS
    assert outcome.job.failure is not None
    assert outcome.job.failure.next_at == format_ts(NOW + MAX_BACKOFF_SECONDS)
    assert outcome.job.failure.next_at.startswith("2317-")


# -- decide -------------------------------------------------------------------------------------


async def test_retry_zero_drops_the_job() -> None:
    job = failed(retry=0)
    rng = FixedJitter(0)
    outcome = await FaktoryRetryPolicy(rng).decide(job, NOW)
    assert outcome == FailureOutcome(job, None)
    assert outcome.score == 0.0
    assert rng.calls == []


@pytest.mark.parametrize("jitter", [0, 13, 29])
async def test_first_failure_retries(jitter: int) -> None:
    job = failed(retry=25)
    rng = FixedJitter(jitter)
    outcome = await FaktoryRetryPolicy(rng).decide(job, NOW)
    at = NOW + 15 + jitter
    assert outcome.destination is SortedSet.RETRIES
    assert outcome.score == at
    assert job.failure is not None
    assert outcome.job == attrs.evolve(
        job, failure=attrs.evolve(job.failure, next_at=format_ts(at))
    )
    assert rng.calls == [(30,)]  # rand.Intn(30): 0..29


@pytest.mark.parametrize(("count", "jitter"), [(1, 0), (3, 7), (10, 29), (24, 5)])
async def test_later_failures_back_off_more(count: int, jitter: int) -> None:
    job = failed(retry=25, retry_count=count)
    outcome = await FaktoryRetryPolicy(FixedJitter(jitter)).decide(job, NOW)
    at = NOW + count**4 + 15 + jitter * (count + 1)
    assert outcome.destination is SortedSet.RETRIES
    assert outcome.score == at
    assert outcome.job.failure is not None
    assert outcome.job.failure.next_at == format_ts(at)
    assert outcome.job.failure.retry_count == count  # counting is the caller's job


async def test_exhausted_retries_go_to_dead() -> None:
    job = failed(retry=25, retry_count=25)
    rng = FixedJitter(0)
    outcome = await FaktoryRetryPolicy(rng).decide(job, NOW)
    assert outcome == FailureOutcome(job, SortedSet.DEAD, NOW + 180 * DAY)
    assert outcome.job.failure is not None
    assert outcome.job.failure.next_at == ""
    assert rng.calls == []


async def test_retry_one() -> None:
    # Faktory's retry_test.go: retry 1 → first FAIL retries, second FAIL is dead.
    policy = FaktoryRetryPolicy(FixedJitter(0))
    first = await policy.decide(failed(retry=1, retry_count=0), NOW)
    assert first.destination is SortedSet.RETRIES
    second = await policy.decide(failed(retry=1, retry_count=1), NOW)
    assert second.destination is SortedSet.DEAD
    assert second.score == NOW + DEAD_TTL


@pytest.mark.parametrize("retry", [-1, -2, -100])
async def test_negative_retry_is_dead_at_the_first_failure(retry: int) -> None:
    job = failed(retry=retry)
    outcome = await FaktoryRetryPolicy(FixedJitter(0)).decide(job, NOW)
    assert outcome == FailureOutcome(job, SortedSet.DEAD, NOW + DEAD_TTL)


async def test_retry_count_beyond_retry_is_dead() -> None:
    outcome = await FaktoryRetryPolicy(FixedJitter(0)).decide(failed(3, retry_count=7), NOW)
    assert outcome.destination is SortedSet.DEAD


async def test_a_job_without_a_failure_counts_as_a_first_failure() -> None:
    job = failed(retry=25, retry_count=None)
    outcome = await FaktoryRetryPolicy(FixedJitter(4)).decide(job, NOW)
    assert outcome.destination is SortedSet.RETRIES
    assert outcome.score == NOW + 19
    assert outcome.job.failure == Failure(next_at=format_ts(NOW + 19))


async def test_next_at_is_a_faktory_timestamp() -> None:
    outcome = await FaktoryRetryPolicy(FixedJitter(0)).decide(failed(25), 1735787045.25)
    assert outcome.job.failure is not None
    assert outcome.job.failure.next_at == "2025-01-02T03:04:20.25Z"


async def test_jitter_covers_0_to_29() -> None:
    policy = FaktoryRetryPolicy(random.Random(1234))
    delays = set()
    for _ in range(3000):
        outcome = await policy.decide(failed(25, retry_count=2), NOW)
        delays.add(outcome.score - NOW)
    assert delays == {backoff_seconds(2, jitter) for jitter in range(30)}


def test_dead_ttl() -> None:
    assert DEAD_TTL == 180 * DAY


def test_default_rng() -> None:
    assert isinstance(FaktoryRetryPolicy().rng, random.Random)
    assert FaktoryRetryPolicy().rng is not FaktoryRetryPolicy().rng


def test_hook_builds_the_policy() -> None:
    policy = faktory_core_make_retry_policy(Config())
    assert isinstance(policy, FaktoryRetryPolicy)
    assert isinstance(policy, RetryPolicy)
