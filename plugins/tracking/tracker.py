"""Job tracking (reference enterprise.md §5): a record per tracked job, and ``TRACK``.

A job pushed with a truthy ``custom.track`` gets a record: ``enqueued`` at PUSH, ``working``
at FETCH, then ``success`` at ACK, ``failed`` at a FAIL that will be retried and ``dead`` at one
that will not (the reaper's expiry is a FAIL). ``TRACK SET`` changes ``percent``/``desc`` and
extends the reservation of any reserved job with ``reserve_until``; ``TRACK GET`` reads the
record. Records live :data:`RECORD_TTL` seconds after their last change.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import attrs

from faktory_core import jobjson
from faktory_core.clock import Clock
from faktory_core.errors import FaktoryError
from faktory_core.middleware import JobMiddleware, Step
from faktory_core.model import Job
from faktory_core.plugins.tracking.storage import TrackStorage
from faktory_core.protocol import replies
from faktory_core.timefmt import BadTimestamp, format_ts, parse_ts

if TYPE_CHECKING:
    from faktory_core.manager import Manager
    from faktory_core.server.commands import Session

__all__ = [
    "MAX_DESC_BYTES",
    "RECORD_TTL",
    "TrackError",
    "TrackUpdate",
    "Tracker",
    "parse_update",
    "render",
    "unknown_record",
]

#: Seconds a record lives after its last change (the wiki's 30 minutes).
RECORD_TTL = 30 * 60.0
#: The longest ``desc`` TRACK SET accepts, in UTF-8 bytes.
MAX_DESC_BYTES = 1000
#: The keys a record shows, in the wiki's order.
_ORDER = ("jid", "percent", "desc", "state", "updated_at")
_SET_KEYS = frozenset({"jid", "percent", "desc", "reserve_until"})


class TrackError(FaktoryError):
    """A TRACK command the server cannot take; nothing was changed."""


def _tracked(job: Job) -> bool:
    """``custom.track`` truthy: 1, true, "1" (decision: any truthy value, §5.1)."""
    custom = job.custom
    return bool(custom and custom.get("track"))


def unknown_record(jid: str) -> dict[str, Any]:
    """Exactly what Faktory Enterprise answers for an untracked, unknown or expired jid."""
    return {"jid": jid, "state": "unknown", "updated_at": ""}


def render(jid: str, record: Mapping[str, Any] | None) -> dict[str, Any]:
    """A record as TRACK GET shows it (percent and desc only once set)."""
    if record is None:
        return unknown_record(jid)
    shown = {**record, "jid": jid, "updated_at": format_ts(float(record["updated_at"]))}
    return {key: shown[key] for key in _ORDER if key in shown}


@attrs.frozen
class TrackUpdate:
    """A checked TRACK SET: the fields to store and the reservation deadline, if any."""

    jid: str
    fields: dict[str, Any]
    reserve_until: float | None = None


def _percent(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TrackError(f"TRACK SET: percent must be a number from 0 to 100, not {value!r}")
    if not (0 <= value <= 100) or (isinstance(value, float) and not value.is_integer()):
        raise TrackError(f"TRACK SET: percent must be a whole number from 0 to 100, not {value}")
    return int(value)


def _desc(value: Any) -> str:
    if not isinstance(value, str):
        raise TrackError(f"TRACK SET: desc must be a string, not {type(value).__name__}")
    size = len(value.encode())
    if size > MAX_DESC_BYTES:
        raise TrackError(f"TRACK SET: desc is {size} bytes; at most {MAX_DESC_BYTES} are kept")
    return value


def _until(value: Any) -> float | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise TrackError(f"TRACK SET: reserve_until must be an RFC 3339 string, not {value!r}")
    try:
        until = parse_ts(value)
    except BadTimestamp as exc:
        raise TrackError(f"TRACK SET: reserve_until {value!r}: {exc}") from None
    if not math.isfinite(until):
        raise TrackError(f"TRACK SET: reserve_until {value!r} is not a time")
    return until


def parse_update(payload: bytes) -> TrackUpdate:
    """Check a TRACK SET payload whole before anything is stored. ``null`` (or an absent key)
    keeps the stored value (decision, §5.1)."""
    try:
        data = jobjson.loads(payload)
    except jobjson.JSONError as exc:
        raise TrackError(f"TRACK SET: invalid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise TrackError('TRACK SET needs a JSON object: {"jid": ..., "percent": ...}')
    jid = data.get("jid")
    if not isinstance(jid, str) or not jid:
        raise TrackError("TRACK SET needs a jid")
    unknown = sorted(set(data) - _SET_KEYS)
    if unknown:
        raise TrackError(f"TRACK SET: unknown key(s) {', '.join(unknown)}")
    fields: dict[str, Any] = {}
    if data.get("percent") is not None:
        fields["percent"] = _percent(data["percent"])
    if data.get("desc") is not None:
        fields["desc"] = _desc(data["desc"])
    return TrackUpdate(jid, fields, _until(data.get("reserve_until")))


@attrs.define(eq=False)
class Tracker(JobMiddleware):
    """One server's tracking: its middleware steps and its TRACK command."""

    clock: Clock
    storage: TrackStorage | None = None
    manager: Manager | None = None

    def _store(self) -> TrackStorage:
        if self.storage is None:
            raise FaktoryError("tracking is not started")
        return self.storage

    async def _state(self, job: Job, state: str) -> None:
        await self._store().set_state(job.jid, state, self.clock.now(), RECORD_TTL)

    # -- middleware ---------------------------------------------------------------------------
    custom_only = True  # wants() looks in job.custom only

    def wants(self, job: Job) -> bool:
        """Only tracked jobs: every step below acts on those alone, so a plain job skips the
        chains (and PUSHB keeps its bulk path for it)."""
        return _tracked(job)

    async def push(self, job: Job, call_next: Step) -> None:
        await call_next(job)
        if _tracked(job):
            await self._state(job, "enqueued")

    async def fetch(self, job: Job, call_next: Step) -> None:
        await call_next(job)
        if _tracked(job):
            await self._state(job, "working")

    async def ack(self, job: Job, call_next: Step) -> None:
        await call_next(job)
        if _tracked(job):
            await self._state(job, "success")

    async def fail(self, job: Job, call_next: Step) -> None:
        await call_next(job)
        if _tracked(job):
            await self._state(job, "failed" if _will_retry(job) else "dead")

    # -- TRACK ----------------------------------------------------------------------------------
    async def command(self, session: Session, payload: bytes | None) -> bytes:
        text = b"" if payload is None else payload
        sub, _, rest = text.partition(b" ")
        if sub == b"GET":
            return await self.get(rest.decode("utf-8", "replace").strip())
        if sub == b"SET":
            await self.set(parse_update(rest))
            return replies.OK
        name = sub.decode("utf-8", "replace")
        raise TrackError(
            f"unknown TRACK subcommand {name!r}; use TRACK GET <jid> or TRACK SET {{...}}"
        )

    async def get(self, jid: str) -> bytes:
        if not jid:
            raise TrackError("TRACK GET needs a jid")
        record = await self._store().get(jid, self.clock.now())
        return replies.bulk(json.dumps(render(jid, record), separators=(",", ":")).encode())

    async def progress(self, jid: str) -> dict[str, Any] | None:
        """The web UI's view of a record (None: not tracked, or not started)."""
        if self.storage is None:
            return None
        record = await self.storage.get(jid, self.clock.now())
        return None if record is None else render(jid, record)

    async def set(self, update: TrackUpdate) -> None:
        """Extend the reservation (any reserved job), then store percent/desc (tracked jobs)."""
        assert self.manager is not None
        storage, now = self._store(), self.clock.now()
        reserved = await self.manager.store.reservation(update.jid) is not None
        record = await storage.get(update.jid, now)
        if not reserved and record is None:
            raise TrackError(
                f"TRACK SET: unknown jid {update.jid}: it is neither tracked nor reserved"
            )
        if update.reserve_until is not None and reserved:
            await self.manager.extend_reservation(update.jid, update.reserve_until)
        if update.fields and record is not None:
            await storage.set_progress(update.jid, update.fields, now, RECORD_TTL)


def _will_retry(job: Job) -> bool:
    """Faktory's retry rule (core/retry.py) on a job whose failure is already recorded."""
    failure = job.failure
    return job.retry != 0 and failure is not None and failure.retry_count < job.retry
