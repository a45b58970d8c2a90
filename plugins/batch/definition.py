"""``BATCH NEW``'s JSON checked into a :class:`~.storage.BatchSpec` (enterprise.md §2.2, §2.8)."""

from __future__ import annotations

import json
import secrets
from typing import Any

from faktory_core import jobjson
from faktory_core.errors import FaktoryError
from faktory_core.model import check_at, job_from_dict, valid_queue_name
from faktory_core.plugins.batch import errors
from faktory_core.plugins.batch.storage import CALLBACK_KINDS, BatchSpec
from faktory_core.timefmt import format_ts

__all__ = ["new_bid", "parse_definition", "public_status"]

#: URL-safe characters after ``b-`` in a BID (Enterprise's look: ``b-W5uwOl0DNxfZyg``).
BID_CHARS = 14
#: The fields of BATCH STATUS, in order (enterprise.md §2.6).
STATUS_FIELDS = (
    "bid",
    "parent_bid",
    "description",
    "created_at",
    "total",
    "pending",
    "failed",
    "complete_st",
    "success_st",
)


def new_bid() -> str:
    return "b-" + secrets.token_urlsafe(BID_CHARS)[:BID_CHARS]


def _optional_str(data: dict[str, Any], name: str) -> str:
    value = data.get(name)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise FaktoryError(errors.bad_field(name, "a string"))
    return value


def _callback(data: dict[str, Any], kind: str, bid: str, parent: str, stamp: str) -> str | None:
    value = data.get(kind)
    if value is None:
        return None
    if not isinstance(value, dict):
        raise FaktoryError(errors.bad_callback(kind, "not a job object"))
    job = {"args": [], **{k: v for k, v in value.items() if v is not None}}
    job.setdefault("jid", f"{bid}-{kind}")
    custom = job.get("custom") or {}
    if not isinstance(custom, dict):
        raise FaktoryError(errors.bad_callback(kind, "custom must be an object"))
    custom = {k: v for k, v in custom.items() if k != "bid"}
    custom.update({"_bid": bid, "_cb": kind, **({"_pbid": parent} if parent else {})})
    job["custom"] = custom
    try:
        checked = job_from_dict(job)
        if not valid_queue_name(checked.queue):
            raise FaktoryError(f"bad queue name {checked.queue!r}")
        check_at(checked)
    except FaktoryError as exc:
        raise FaktoryError(errors.bad_callback(kind, exc.message)) from None
    checked = checked.stamped(checked.created_at or stamp, "")
    return json.dumps(checked.to_dict(), separators=(",", ":"), ensure_ascii=False)


def parse_definition(payload: bytes, now: float) -> BatchSpec:
    """The batch BATCH NEW defines, with a fresh BID; FaktoryError (``-ERR``) when bad."""
    try:
        data = jobjson.loads(payload)
    except jobjson.JSONError as exc:
        raise FaktoryError(errors.invalid_json(str(exc))) from None
    if not isinstance(data, dict):
        raise FaktoryError(errors.invalid_json("the batch must be a JSON object"))
    _optional_str(data, "bid")  # the Go client always sends "": ignored, the server names it
    description = _optional_str(data, "description")
    size = len(description.encode())
    if size > errors.MAX_DESCRIPTION:
        raise FaktoryError(errors.description_too_long(size))
    parent = _optional_str(data, "parent_bid")
    bid, stamp = new_bid(), format_ts(now)
    callbacks = {}
    for kind in CALLBACK_KINDS:
        job = _callback(data, kind, bid, parent, stamp)
        if job is not None:
            callbacks[kind] = job
    if not callbacks:
        raise FaktoryError(errors.NO_CALLBACK)
    return BatchSpec(bid, parent, description, stamp, now, callbacks)


def public_status(status: dict[str, Any]) -> dict[str, Any]:
    """Only the fields of BATCH STATUS (``parent_bid`` left out for a top-level batch)."""
    return {name: status[name] for name in STATUS_FIELDS if name in status}
