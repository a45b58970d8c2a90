"""Values as Redis holds them: job JSON, reservation JSON (reference §4.4), worker hashes.

Scores and other floats are written with ``repr`` (exact round trip) and read with ``float``.
Everything read back is checked like a pushed job; what cannot be read raises
:class:`Unreadable`, which the store logs and steps over instead of failing a whole page.
"""

from __future__ import annotations

from typing import Any

import attrs

from faktory_core import jobjson
from faktory_core.errors import InvalidJob
from faktory_core.model import (
    MAX_RESERVE_FOR,
    Job,
    Reservation,
    WorkerInfo,
    WorkerState,
    fast_job,
    job_from_dict,
)
from faktory_core.timefmt import BadTimestamp, format_ts, parse_ts

__all__ = [
    "Unreadable",
    "decode_job",
    "decode_reservation",
    "decode_worker",
    "encode_reservation",
    "encode_worker",
    "extended",
    "fstr",
    "jid_of_reservation",
]


class Unreadable(ValueError):
    """A stored value that is not what this store writes (corrupt or foreign data)."""


def fstr(value: float) -> str:
    """A float as Redis should store it: ``repr`` round-trips every double exactly."""
    return repr(value)


def _loads(raw: bytes | str) -> Any:
    try:
        return jobjson.loads(raw)
    except jobjson.JSONError as exc:
        raise Unreadable(f"not JSON: {exc}") from None


def decode_job(raw: bytes | str) -> Job:
    if type(raw) is bytes:
        # One msgspec pass when it is sure to give what the strict path would (every FETCH's
        # job): about 1 µs instead of a dict and job_from_dict (issue 20). A refusal -- or a
        # stored reserve_for over the bound, which this store keeps -- goes the strict way.
        try:
            job = fast_job(raw)
        except InvalidJob:
            job = None
        if job is not None:
            return job
    return _job(_loads(raw))


def _job(data: Any) -> Job:
    """A stored job, checked as PUSH checks one -- except the bound on ``reserve_for``, which
    FETCH clamps anyway: a job stored by other means is still served."""
    long = None
    reserve_for = data.get("reserve_for") if isinstance(data, dict) else None
    if isinstance(reserve_for, int) and reserve_for > MAX_RESERVE_FOR:
        data = dict(data)
        long = data.pop("reserve_for")
    try:
        job = job_from_dict(data)
    except InvalidJob as exc:
        raise Unreadable(exc.message) from None
    return job if long is None else attrs.evolve(job, reserve_for=long)


def encode_reservation(job: bytes, reserved_at: str, expires_at: str, wid: str) -> bytes:
    """The member of ``working``, laid out as Faktory's Go struct marshals it (and as the
    fetch script writes it), around the job's JSON kept byte for byte."""
    stamps = f',"reserved_at":"{reserved_at}","expires_at":"{expires_at}","wid":'
    return b'{"job":' + job + stamps.encode() + jobjson.dumps(wid) + b"}"


def _reservation_fields(member: bytes) -> dict[str, Any]:
    data = _loads(member)
    if not isinstance(data, dict) or not isinstance(data.get("job"), dict):
        raise Unreadable("a reservation without a job")
    return data


def decode_reservation(member: bytes, expiry: float) -> Reservation:
    """A member of ``working`` with its score (the expiry, exact)."""
    return _reservation(_reservation_fields(member), expiry)


def _reservation(data: dict[str, Any], expiry: float) -> Reservation:
    job = _job(data["job"])
    try:
        reserved_at = parse_ts(str(data.get("reserved_at", "")))
    except BadTimestamp as exc:
        raise Unreadable(f"reserved_at: {exc}") from None
    wid = data.get("wid")
    return Reservation(job, reserved_at, expiry, wid if isinstance(wid, str) else "")


def jid_of_reservation(member: bytes) -> str:
    jid = _reservation_fields(member)["job"].get("jid")
    if not isinstance(jid, str):
        raise Unreadable("a reservation without a jid")
    return jid


def extended(member: bytes, until: float) -> bytes:
    """The same reservation with a later expiry (its job re-encoded, ``reserved_at`` kept as
    written: a text that parsed as a timestamp)."""
    data = _reservation_fields(member)
    res = _reservation(data, until)
    return encode_reservation(res.job.encode(), data["reserved_at"], format_ts(until), res.wid)


# -- workers ------------------------------------------------------------------------------------


def encode_worker(info: WorkerInfo) -> list[str | int]:
    """A new worker record as HSET field/value pairs (the script counts its connections)."""
    return [
        "hostname",
        info.hostname,
        "pid",
        info.pid,
        "labels",
        jobjson.dumps(list(info.labels)).decode(),
        "started_at",
        fstr(info.started_at),
        "last_beat",
        fstr(info.last_beat),
        "rss_kb",
        info.rss_kb,
        "state",
        info.state.value,
    ]


def decode_worker(wid: str, flat: list[bytes]) -> WorkerInfo:
    """An HGETALL reply (flat field/value list) to a record."""
    fields = {flat[i].decode(): flat[i + 1].decode() for i in range(0, len(flat) - 1, 2)}
    try:
        labels = jobjson.loads(fields.get("labels", "[]"))
        return WorkerInfo(
            wid=wid,
            hostname=fields.get("hostname", ""),
            pid=int(fields.get("pid", "0")),
            labels=tuple(str(label) for label in labels),
            started_at=float(fields.get("started_at", "0")),
            last_beat=float(fields.get("last_beat", "0")),
            rss_kb=int(fields.get("rss_kb", "0")),
            state=WorkerState(fields.get("state", "running")),
            # One c:<node> field per server it is connected through (see nodes.py).
            connections=sum(int(v) for k, v in fields.items() if k.startswith("c:")),
        )
    except (ValueError, TypeError) as exc:
        raise Unreadable(f"worker record {wid!r}: {exc}") from None
