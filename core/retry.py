"""Faktory's retry policy (reference §5.3, §5.4), a built-in plugin like any other."""

from __future__ import annotations

import random
from typing import Protocol, runtime_checkable

import attrs

from faktory_core.config import Config
from faktory_core.hookspecs import hookimpl
from faktory_core.model import DEAD_TTL, Failure, Job, SortedSet
from faktory_core.store import FailureOutcome
from faktory_core.timefmt import format_ts

__all__ = ["MAX_BACKOFF_SECONDS", "FaktoryRetryPolicy", "RetryPolicy", "backoff_seconds"]

#: The longest retry delay: the largest Go ``time.Duration`` in whole seconds (~292 years).
#: Faktory computes the delay as a Duration, which overflows past this (``retry_count`` ≥ 310);
#: we stop there instead, so every count gets a date Python can write (a larger delay raised
#: ``year out of range`` and failed the FAIL and every pass of the reaper).
MAX_BACKOFF_SECONDS = (2**63 - 1) // 10**9
#: Above this count, ``count⁴`` alone passes the cap (309⁴ < cap < 310⁴).
_CAPPED_FROM = 310


@runtime_checkable
class RetryPolicy(Protocol):
    async def decide(self, job: Job, now: float) -> FailureOutcome:
        """Where ``job`` (its ``failure`` already recorded) goes after failing at ``now``."""
        ...


def backoff_seconds(retry_count: int, jitter: int) -> int:
    """``count⁴ + 15 + jitter·(count+1)`` with ``jitter`` in 0..29 (§5.3), at most
    :data:`MAX_BACKOFF_SECONDS` and at least 0 (a client may send any ``retry_count``)."""
    if abs(retry_count) >= _CAPPED_FROM:
        return MAX_BACKOFF_SECONDS
    return min(max(retry_count**4 + 15 + jitter * (retry_count + 1), 0), MAX_BACKOFF_SECONDS)


@attrs.define
class FaktoryRetryPolicy:
    """``retry`` 0 drops the job; failures below ``retry`` go to retries; the rest die."""

    rng: random.Random = attrs.field(factory=random.Random)

    async def decide(self, job: Job, now: float) -> FailureOutcome:
        failure = job.failure or Failure()
        if job.retry == 0:
            return FailureOutcome(job, None)
        if failure.retry_count < job.retry:
            at = now + backoff_seconds(failure.retry_count, self.rng.randrange(30))
            job = attrs.evolve(job, failure=attrs.evolve(failure, next_at=format_ts(at)))
            return FailureOutcome(job, SortedSet.RETRIES, at)
        return FailureOutcome(job, SortedSet.DEAD, now + DEAD_TTL)


@hookimpl(trylast=True)
def faktory_core_make_retry_policy(config: Config) -> RetryPolicy:
    return FaktoryRetryPolicy()
