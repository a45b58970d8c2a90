"""How a job ends other than by returning or raising: :class:`Retry`, :class:`Discard` and
:class:`JobTimeout`, and what each sends on the wire (sans-IO: payloads and requests, no I/O).

FWP has two ways to end a job, ``ACK`` and ``FAIL``; ``FAIL`` leaves the next run's time to the
server's backoff. So, as celery's ``self.retry(countdown=...)`` and arq's ``Retry(defer=...)``
do, a job that raises ``Retry(in_seconds=N)`` is *re-pushed*: a copy with the same jid, ``at``
N seconds from now and its ``failure`` hash advanced exactly as the server's FAIL would advance
it (so it counts toward the job's ``retry`` limit), then the original is acknowledged. Once the
limit is reached, or without ``in_seconds``, it is an ordinary ``FAIL`` with errtype ``Retry``
and the server decides (retries with backoff, dead set, or dropped for ``retry: 0``).
"""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

from faktory_core.client import commands
from faktory_core.client.commands import Request
from faktory_core.model import DEFAULT_RETRY
from faktory_core.protocol import encode_json_command
from faktory_core.timefmt import format_ts

__all__ = ["MIN_RETRY_DELAY", "Discard", "JobTimeout", "Retry", "rescheduled", "retries_left"]

#: The payload keys the server sets again when it enqueues the copy.
_SERVER_SET = ("enqueued_at",)
#: The shortest delay of a re-pushed copy. The copy has the job's jid and the original is
#: acknowledged just after the PUSH: the copy must not be fetched (and reserved under the same
#: jid) before that ACK lands, or the ACK would end the new run's reservation.
MIN_RETRY_DELAY = 1.0
#: The ``+OK`` reader every simple command uses (PUSH's too).
_PARSE_OK = commands.flush().parse


class Retry(Exception):
    """Raise from a job to run it again ``in_seconds`` from now (counting toward its ``retry``
    limit); without ``in_seconds``, the server's backoff decides when."""

    def __init__(self, reason: str = "", *, in_seconds: float | timedelta | None = None) -> None:
        if isinstance(in_seconds, timedelta):
            in_seconds = in_seconds.total_seconds()
        if in_seconds is not None and not in_seconds >= 0:
            raise ValueError(f"in_seconds must be a non-negative number, not {in_seconds!r}")
        super().__init__(reason or "retry requested by the job")
        self.reason = reason or "retry requested by the job"
        self.in_seconds = in_seconds


class Discard(Exception):
    """Raise from a job to drop it: it is acknowledged (not retried) and the reason logged."""

    def __init__(self, reason: str = "") -> None:
        super().__init__(reason or "discarded by the job")
        self.reason = reason or "discarded by the job"


class JobTimeout(Exception):
    """The failure reported for a job that ran past its timeout."""


def rescheduled(payload: dict[str, Any], retry: Retry, now: float | None = None) -> dict[str, Any]:
    """The copy of ``payload`` to PUSH for ``retry``: same jid, ``at`` = now + ``in_seconds``
    (at least :data:`MIN_RETRY_DELAY`),
    and the ``failure`` hash the server's FAIL would have written. Only call it when
    :func:`retries_left` says so and ``in_seconds`` is set."""
    assert retry.in_seconds is not None
    now = time.time() if now is None else now
    previous = payload.get("failure")
    limit = _retry_limit(payload)
    at = format_ts(now + max(retry.in_seconds, MIN_RETRY_DELAY))
    failure: dict[str, Any]
    if isinstance(previous, dict):
        remaining = int(previous.get("remaining", limit))
        failure = {
            "retry_count": int(previous.get("retry_count", 0)) + 1,
            "remaining": remaining - 1 if remaining > 0 else remaining,
        }
    else:
        failure = {"retry_count": 0, "remaining": limit}
    failure.update(failed_at=format_ts(now), next_at=at, errtype=Retry.__name__)
    failure["message"] = retry.reason
    copy = {key: value for key, value in payload.items() if key not in _SERVER_SET}
    copy.update(at=at, failure=failure)
    return copy


def retries_left(payload: dict[str, Any]) -> bool:
    """Whether one more failure of this job would still be retried by the server."""
    limit = _retry_limit(payload)
    previous = payload.get("failure")
    count = int(previous.get("retry_count", 0)) + 1 if isinstance(previous, dict) else 0
    return limit > 0 and count < limit


def push_payload(payload: dict[str, Any]) -> Request[None]:
    """PUSH a raw payload (a copy of a fetched job, fields the client's Job has not)."""
    return Request(encode_json_command("PUSH", payload), _PARSE_OK)


def _retry_limit(payload: dict[str, Any]) -> int:
    limit = payload.get("retry")
    return limit if isinstance(limit, int) and not isinstance(limit, bool) else DEFAULT_RETRY
