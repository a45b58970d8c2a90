"""The FWP command table: each handler decodes its payload, calls the manager, encodes a reply.

Handlers take the session and the raw payload (None when the line had no space after the
verb) and return the reply bytes, or :data:`CLOSE` to close without a reply (END). They raise
:class:`~faktory_core.errors.FaktoryError` for bad input (answered ``-ERR``/its code) and
:class:`MissingPayload` for a verb that needs a payload and has none; the connection's loop
(:meth:`faktory_core.server.connection.Connection._commands`) calls them.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import anyio.lowlevel
import attrs

from faktory_core import jobjson
from faktory_core.errors import FaktoryError, InvalidJob, messages
from faktory_core.glob import GlobTooLong, check_glob
from faktory_core.manager import FailInfo
from faktory_core.model import (
    JobFilter,
    SortedSet,
    WorkerState,
    decode_job,
    decode_jobs,
    job_from_dict,
    valid_queue_name,
)
from faktory_core.protocol import replies

if TYPE_CHECKING:
    from faktory_core.server.app import Server

__all__ = ["CLOSE", "Handler", "MissingPayload", "Session", "build_table"]

CLOSE = b""
#: PUSHB works through its jobs this many at a time, letting other clients in between
#: (docs/performance.md, "One command, everyone else waiting").
PUSHB_CHUNK = 1000


async def _plain(blocked: Awaitable[Any]) -> Any:
    return await blocked


@attrs.define(eq=False)
class Session:
    """What the server knows about one identified connection."""

    wid: str = ""
    #: Set when the peer closed its side while a command was blocked.
    gone: bool = False
    #: Runs a blocking step; the connection swaps in one that keeps reading the socket.
    waiting: Callable[[Awaitable[Any]], Awaitable[Any]] = _plain
    #: Jids fetched whose reply has not been handed to the socket yet: should sending fail,
    #: the connection puts them back (a job the worker never got is not left reserved).
    unsent: list[str] = attrs.field(factory=list)


Handler = Callable[[Session, bytes | None], Awaitable[bytes]]


class MissingPayload(Exception):
    """A verb that needs a payload arrived without one: Faktory 1.10 answers internal error."""


def _need(payload: bytes | None) -> bytes:
    if payload is None:
        raise MissingPayload
    return payload


def _text(payload: bytes) -> str:
    return payload.decode("utf-8", "replace")


def _json_object(payload: bytes) -> dict[str, Any] | None:
    try:
        value = jobjson.loads(payload)
    except jobjson.JSONError:
        return None
    return value if isinstance(value, dict) else None


def _compact(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def build_table(server: Server) -> dict[str, Handler]:
    """Bind every OSS command to ``server``; plugins may add verbs to the returned table."""
    manager = server.manager

    def queue_names(text: str) -> list[str]:
        names = text.split(" ") if text else []
        if len(names) > server.config.max_fetch_queues:
            raise FaktoryError(messages.too_many_queues(len(names), server.config.max_fetch_queues))
        return names

    async def push(session: Session, payload: bytes | None) -> bytes:
        await manager.push(decode_job(_need(payload)))
        return replies.OK

    async def pushb(session: Session, payload: bytes | None) -> bytes:
        jobs = await _decode_batch(_need(payload))
        errors: dict[str, str] = {}
        for start in range(0, len(jobs), PUSHB_CHUNK):
            errors.update(await manager.push_bulk(jobs[start : start + PUSHB_CHUNK]))
            await anyio.lowlevel.checkpoint()
        return replies.bulk(_compact(errors))

    async def fetch(session: Session, payload: bytes | None) -> bytes:
        queues = queue_names(_text(payload)) if payload is not None else []
        if not queues and await _silenced(session.wid):
            # Faktory looks at the worker's state before the queues: wait out the block, $-1.
            await manager.clock.sleep(manager.timings.fetch_block)
            return replies.NULL
        # A job at hand is answered at once; only a FETCH that has to wait watches the socket.
        job = await manager.fetch(queues, session.wid, wait=False)
        if job is None:
            job = await session.waiting(manager.fetch(queues, session.wid))
            if job is not None and session.gone:
                await manager.put_back(job)
                return CLOSE
        if job is None:
            return replies.NULL
        session.unsent.append(job.jid)
        return replies.bulk(job.encode())

    async def _silenced(wid: str) -> bool:
        info = await manager.store.worker_get(wid) if wid else None
        return info is not None and info.state is not WorkerState.RUNNING

    async def ack(session: Session, payload: bytes | None) -> bytes:
        data = _json_object(_need(payload))
        jid = data.get("jid") if data is not None else None
        if (
            data is None
            or not isinstance(jid, str)
            or not all(isinstance(v, str) for v in data.values())
        ):
            raise FaktoryError(messages.invalid_ack(_text(_need(payload))))
        await manager.ack(jid)
        return replies.OK

    async def fail(session: Session, payload: bytes | None) -> bytes:
        await manager.fail(_fail_info(_need(payload)))
        return replies.OK

    async def beat(session: Session, payload: bytes | None) -> bytes:
        wid, rss, requested = _beat_fields(_need(payload))
        state = await manager.beat(wid, rss, requested)
        if state == "running":
            return replies.OK
        return replies.bulk(b'{"state":"%b"}' % state.encode())

    async def info(session: Session, payload: bytes | None) -> bytes:
        return replies.bulk(_compact(await server.info()))

    async def flush(session: Session, payload: bytes | None) -> bytes:
        await server.flush()
        return replies.OK

    async def end(session: Session, payload: bytes | None) -> bytes:
        return CLOSE

    async def queue(session: Session, payload: bytes | None) -> bytes:
        sub, _, rest = _text(_need(payload)).partition(" ")
        sub = sub.upper()
        if sub == "LATENCY":
            latencies = await manager.latency(queue_names(rest))
            return replies.bulk(_compact({k: v or 0 for k, v in sorted(latencies.items())}))
        action = {"PAUSE": manager.pause, "RESUME": manager.resume, "REMOVE": manager.remove}
        if sub not in action:
            raise FaktoryError(messages.no_such_queue_subcommand(sub))
        if not rest and " " not in _text(_need(payload)):
            raise MissingPayload  # `QUEUE PAUSE` with no names: Faktory's internal error
        names = queue_names(rest) or [""]
        for name in names:
            if name != "*" and not valid_queue_name(name):
                raise FaktoryError(messages.bad_queue(name))  # Faktory ignores it (+OK)
        await action[sub](names)
        return replies.OK

    async def mutate(session: Session, payload: bytes | None) -> bytes:
        cmd, which, where = _mutation(payload)
        await manager.mutate(cmd, which, where)
        return replies.OK

    async def batch(session: Session, payload: bytes | None) -> bytes:
        raise FaktoryError(messages.BATCH_OSS)

    async def track(session: Session, payload: bytes | None) -> bytes:
        raise FaktoryError(messages.TRACK_OSS)

    return {
        "END": end,
        "PUSH": push,
        "PUSHB": pushb,
        "FETCH": fetch,
        "ACK": ack,
        "FAIL": fail,
        "BEAT": beat,
        "INFO": info,
        "FLUSH": flush,
        "MUTATE": mutate,
        "BATCH": batch,
        "TRACK": track,
        "QUEUE": queue,
    }


async def _decode_batch(payload: bytes) -> list[Any]:
    """A PUSHB payload to its list of job objects, decoded item by item with a checkpoint
    every :data:`PUSHB_CHUNK` items, so a 15 MiB PUSHB does not hold the event loop. Errors
    (and what is accepted) are exactly :func:`~faktory_core.model.decode_jobs`'s."""
    if not payload.lstrip(b" \t\r\n").startswith(b"["):
        return decode_jobs(payload)  # not an array: raises, naming what it is
    items: list[Any] = []
    try:
        for item in jobjson.iter_array(payload):
            if not isinstance(item, dict):
                job_from_dict(item)  # raises its "cannot use ... as an object" error
            items.append(item)
            if len(items) % PUSHB_CHUNK == 0:
                await anyio.lowlevel.checkpoint()
    except jobjson.JSONError as exc:
        raise InvalidJob(messages.invalid_json(str(exc))) from None
    return items


def _fail_info(payload: bytes) -> FailInfo:
    try:
        data = jobjson.loads(payload)
    except jobjson.JSONError:
        raise FaktoryError(messages.invalid_fail(_text(payload))) from None
    if data is None:
        data = {}
    fields: dict[str, Any] = {}
    ok = isinstance(data, dict)
    if ok:
        for key in ("jid", "errtype", "message"):
            value = data.get(key)
            ok = ok and (value is None or isinstance(value, str))
            fields[key] = value or ""
        trace = data.get("backtrace") or []
        ok = ok and isinstance(trace, list) and all(isinstance(line, str) for line in trace)
    if not ok:
        raise FaktoryError(messages.invalid_fail(_text(payload)))
    return FailInfo.cleansed(fields["jid"], fields["errtype"], fields["message"], trace)


def _beat_fields(payload: bytes) -> tuple[str, int, str]:
    data = _json_object(payload)
    if data is None:
        raise FaktoryError(messages.invalid_beat(_text(payload)))
    wid = data.get("wid") or ""
    state = data.get("current_state") or ""
    rss = data.get("rss_kb") or 0
    if not isinstance(wid, str) or not isinstance(state, str) or not _is_int(rss):
        raise FaktoryError(messages.invalid_beat(_text(payload)))
    return wid, rss, state


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


_MUTATE_TARGETS = {s.value: s for s in SortedSet}
_MUTATE_CMDS = ("clear", "kill", "discard", "requeue")


def _mutation(payload: bytes | None) -> tuple[str, SortedSet, JobFilter]:
    """Decode a MUTATE operation; unlike Faktory, its JSON may contain spaces (decisions.md)."""
    if payload is None:
        raise FaktoryError(messages.MUTATE_FORMAT)
    try:
        op = jobjson.loads(payload)
    except jobjson.JSONError as exc:
        raise FaktoryError(str(exc)) from None
    if not isinstance(op, dict):
        raise FaktoryError("cannot decode the operation: expected a JSON object")
    target = op.get("target")
    if not isinstance(target, str) or target not in _MUTATE_TARGETS:
        raise FaktoryError(messages.MUTATE_TARGET)
    cmd = op.get("cmd")
    if cmd not in _MUTATE_CMDS:
        raise FaktoryError(messages.MUTATE_OP)
    return str(cmd), _MUTATE_TARGETS[target], _filter(op.get("filter"))


def _filter(raw: Any) -> JobFilter:
    if raw is None:
        return JobFilter()
    if not isinstance(raw, dict):
        raise FaktoryError("cannot decode the filter: expected a JSON object")
    jobtype, glob, jids = raw.get("jobtype") or "", raw.get("regexp") or "", raw.get("jids") or []
    if not isinstance(jobtype, str) or not isinstance(glob, str) or not isinstance(jids, list):
        raise FaktoryError("cannot decode the filter: wrong field types")
    if not all(isinstance(jid, str) for jid in jids):
        raise FaktoryError("cannot decode the filter: jids must be strings")
    try:
        check_glob(glob.encode())
    except GlobTooLong as exc:
        raise FaktoryError(str(exc)) from None
    return JobFilter(jobtype=jobtype, glob=glob, jids=tuple(jids))
