"""The memory store's snapshot: its whole state as one versioned JSON file.

The file is written atomically (temporary file in the same directory, fsync, rename, fsync of
the directory), so a crash while saving leaves the previous snapshot intact. A file that cannot
be read back -- bad JSON, wrong shape, a version newer than this code -- raises
:class:`SnapshotError` instead of starting empty: starting empty would silently lose every job.

Format (version 2; version 1, without ``journal`` and ``workers``, is still read)::

    {"format": "faktory-core/memory-store", "version": 1,
     "queues": {"<name>": [<job>, ...]},          every registered queue, oldest job first
     "paused": ["<name>", ...],
     "sets": {"scheduled": [[<score>, <job>], ...], "retries": [...], "dead": [...]},
     "reservations": [{"job": <job>, "reserved_at": <s>, "expires_at": <s>, "wid": "..."}],
     "counters": {"processed": N, "failures": N},
     "history": {"YYYY-MM-DD": [processed, failures], ...},
     "kv": {"<key>": {"value": "<base64>", "expires_at": <s> | null}},
     "workers": [{"wid": ..., "state": "quiet", ...}],   connections are not kept
     "journal": N,                                        the journal generation that follows
     "extensions": {"<feature>": {"state": <JSON>, "records": [[op, [args]], ...]}}}
                                                          feature storage (batches, ...), optional

Jobs are ``Job.to_dict()`` and come back through :func:`faktory_core.model.job_from_dict`;
times are Unix seconds as JSON floats (exact round trip). Worker records are saved so that a
worker told to go quiet stays quiet; their connection counts restart at 0. Queue names are
checked as PUSH checks them, and JSON nested deeper than Python can decode is reported as
damage of the named file.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import tempfile
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any, TypeVar

import attrs

from faktory_core.errors import InvalidJob
from faktory_core.model import (
    Job,
    Reservation,
    SetEntry,
    SortedSet,
    WorkerInfo,
    WorkerState,
    job_from_dict,
    valid_queue_name,
)
from faktory_core.plugins.memory_store.extensions import Dormant
from faktory_core.store import DayCount

__all__ = [
    "FORMAT",
    "VERSION",
    "SnapshotError",
    "StoreState",
    "decode",
    "encode",
    "load",
    "save",
    "worker_dict",
    "worker_from",
]

FORMAT = "faktory-core/memory-store"
VERSION = 2


_T = TypeVar("_T")


class SnapshotError(RuntimeError):
    """The snapshot file exists but cannot be restored; the message names the file and why."""


@attrs.define
class StoreState:
    """Everything the memory store saves, as plain values."""

    queues: dict[str, list[Job]] = attrs.field(factory=dict)
    paused: set[str] = attrs.field(factory=set)
    sets: dict[SortedSet, list[SetEntry]] = attrs.field(factory=dict)
    reservations: list[Reservation] = attrs.field(factory=list)
    processed: int = 0
    failures: int = 0
    history: list[DayCount] = attrs.field(factory=list)
    kv: dict[str, tuple[bytes, float | None]] = attrs.field(factory=dict)
    workers: list[WorkerInfo] = attrs.field(factory=list)
    #: The generation of the journal that continues this state (0: none).
    journal: int = 0
    #: Feature storage (``extensions``): feature name → its saved state and pending records.
    extensions: dict[str, Dormant] = attrs.field(factory=dict)


# -- encoding --------------------------------------------------------------------------------


def encode(state: StoreState) -> bytes:
    document = {
        "format": FORMAT,
        "version": VERSION,
        "queues": {name: [job.to_dict() for job in jobs] for name, jobs in state.queues.items()},
        "paused": sorted(state.paused),
        "sets": {
            which.value: [[entry.score, entry.job.to_dict()] for entry in entries]
            for which, entries in state.sets.items()
        },
        "reservations": [_reservation_dict(res) for res in state.reservations],
        "counters": {"processed": state.processed, "failures": state.failures},
        "history": {day.day: [day.processed, day.failures] for day in state.history},
        "kv": {
            key: {"value": base64.b64encode(value).decode("ascii"), "expires_at": expires}
            for key, (value, expires) in state.kv.items()
        },
        "workers": [worker_dict(info) for info in state.workers],
        "journal": state.journal,
        "extensions": {
            name: {"state": held.state, "records": held.records}
            for name, held in state.extensions.items()
        },
    }
    # Not jobjson: its nesting bound is for one job; the snapshot adds a few levels around it.
    text = json.dumps(document, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    return text.encode("utf-8")


def _reservation_dict(res: Reservation) -> dict[str, Any]:
    return {
        "job": res.job.to_dict(),
        "reserved_at": res.reserved_at,
        "expires_at": res.expires_at,
        "wid": res.wid,
    }


def worker_dict(info: WorkerInfo) -> dict[str, Any]:
    return {
        "wid": info.wid,
        "hostname": info.hostname,
        "pid": info.pid,
        "labels": list(info.labels),
        "started_at": info.started_at,
        "last_beat": info.last_beat,
        "rss_kb": info.rss_kb,
        "state": info.state.value,
    }


def worker_from(value: Any, where: str = "worker") -> WorkerInfo:
    """A worker record as :func:`worker_dict` writes it (raises ValueError when it is not)."""
    data = _typed(value, dict, where)
    try:
        state = WorkerState(str(data.get("state")))
    except ValueError:
        raise _BadShape(f"{where}.state: unknown state {data.get('state')!r}") from None
    return WorkerInfo(
        wid=_str_from(data.get("wid"), f"{where}.wid"),
        hostname=_str_from(data.get("hostname"), f"{where}.hostname"),
        pid=_int_from(data.get("pid"), f"{where}.pid"),
        labels=tuple(_list_of(data.get("labels"), _str_from, f"{where}.labels")),
        started_at=_float_from(data.get("started_at"), f"{where}.started_at"),
        last_beat=_float_from(data.get("last_beat"), f"{where}.last_beat"),
        rss_kb=_int_from(data.get("rss_kb"), f"{where}.rss_kb"),
        state=state,
    )


# -- decoding --------------------------------------------------------------------------------


class _BadShape(ValueError):
    """A part of the document is not what version 1 writes; the text says where."""


def decode(raw: bytes, path: Path) -> StoreState:
    """Parse a snapshot; any problem is a :class:`SnapshotError` naming ``path``."""
    try:
        document = json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError) as exc:
        raise SnapshotError(f"cannot restore {path}: not valid JSON ({exc})") from None
    except RecursionError:
        raise SnapshotError(f"cannot restore {path}: JSON nested too deeply") from None
    try:
        return _state_from(document)
    except RecursionError:
        raise SnapshotError(f"cannot restore {path}: JSON nested too deeply") from None
    except _BadShape as exc:
        raise SnapshotError(f"cannot restore {path}: {exc}") from None
    except _NewerVersion as exc:
        raise SnapshotError(
            f"cannot restore {path}: it was written by a newer faktory-core "
            f"(snapshot version {exc.version}, this version reads up to {VERSION})"
        ) from None


class _NewerVersion(Exception):
    def __init__(self, version: int) -> None:
        super().__init__(version)
        self.version = version


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _state_from(document: Any) -> StoreState:
    top = _typed(document, dict, "the document")
    if top.get("format") != FORMAT:
        raise _BadShape(f"not a memory store snapshot (format {top.get('format')!r})")
    version = top.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise _BadShape(f"bad version {version!r}")
    if version > VERSION:
        raise _NewerVersion(version)
    state = StoreState(
        queues=_queues_from(top.get("queues")),
        sets=_sets_from(top.get("sets")),
        reservations=_list_of(top.get("reservations"), _reservation_from, "reservations"),
        history=_history_from(top.get("history")),
        kv=_kv_from(top.get("kv")),
    )
    if version >= 2:
        state.workers = _list_of(top.get("workers"), worker_from, "workers")
        state.journal = _int_from(top.get("journal"), "journal")
        state.extensions = _extensions_from(top.get("extensions", {}))
    state.paused = set(_list_of(top.get("paused"), _str_from, "paused"))
    if not state.paused <= state.queues.keys():
        raise _BadShape("paused lists a queue that is not registered")
    counters = _typed(top.get("counters"), dict, "counters")
    state.processed = _int_from(counters.get("processed"), "counters.processed")
    state.failures = _int_from(counters.get("failures"), "counters.failures")
    return state


def _extensions_from(value: Any) -> dict[str, Dormant]:
    found = _typed(value, dict, "extensions")
    held = {}
    for name, entry in found.items():
        body = _typed(entry, dict, f"extensions.{name}")
        records = _list_of(body.get("records", []), _record_from, f"extensions.{name}.records")
        held[name] = Dormant(body.get("state"), records)
    return held


def _record_from(value: Any, where: str) -> list[Any]:
    if not (isinstance(value, list) and len(value) == 2 and isinstance(value[0], str)):
        raise _BadShape(f"{where}: expected [op, [args]]")
    return [value[0], _typed(value[1], list, f"{where}[1]")]


def _queues_from(value: Any) -> dict[str, list[Job]]:
    queues = _typed(value, dict, "queues")
    for name in queues:
        if not valid_queue_name(name):
            raise _BadShape(f"queues: {name!r} is not a valid queue name")
    return {name: _list_of(jobs, _job_from, f"queue {name!r}") for name, jobs in queues.items()}


def _sets_from(value: Any) -> dict[SortedSet, list[SetEntry]]:
    sets = _typed(value, dict, "sets")
    return {which: _list_of(sets.get(which.value), _entry_from, which.value) for which in SortedSet}


def _entry_from(value: Any, where: str) -> SetEntry:
    pair = _typed(value, list, where)
    if len(pair) != 2:
        raise _BadShape(f"{where}: expected [score, job]")
    return SetEntry(_float_from(pair[0], where), _job_from(pair[1], where))


def _reservation_from(value: Any, where: str) -> Reservation:
    data = _typed(value, dict, where)
    return Reservation(
        job=_job_from(data.get("job"), where),
        reserved_at=_float_from(data.get("reserved_at"), f"{where}.reserved_at"),
        expires_at=_float_from(data.get("expires_at"), f"{where}.expires_at"),
        wid=_str_from(data.get("wid"), f"{where}.wid"),
    )


def _history_from(value: Any) -> list[DayCount]:
    days = _typed(value, dict, "history")
    history = []
    for day, counts in days.items():
        try:
            date.fromisoformat(day)
        except ValueError:
            raise _BadShape(f"history: {day!r} is not a YYYY-MM-DD day") from None
        pair = _typed(counts, list, f"history {day!r}")
        if len(pair) != 2:
            raise _BadShape(f"history {day!r}: expected [processed, failures]")
        history.append(DayCount(day, _int_from(pair[0], day), _int_from(pair[1], day)))
    return history


def _kv_from(value: Any) -> dict[str, tuple[bytes, float | None]]:
    items = _typed(value, dict, "kv")
    kv: dict[str, tuple[bytes, float | None]] = {}
    for key, item in items.items():
        data = _typed(item, dict, f"kv {key!r}")
        try:
            raw = base64.b64decode(_str_from(data.get("value"), key), validate=True)
        except binascii.Error:
            raise _BadShape(f"kv {key!r}: value is not base64") from None
        expires = data.get("expires_at")
        kv[key] = (raw, None if expires is None else _float_from(expires, f"kv {key!r}"))
    return kv


def _job_from(value: Any, where: str) -> Job:
    try:
        return job_from_dict(value)
    except InvalidJob as exc:
        raise _BadShape(f"{where}: bad job ({exc.message})") from None


def _list_of(value: Any, item: Callable[[Any, str], _T], where: str) -> list[_T]:
    items = _typed(value, list, where)
    return [item(element, f"{where}[{index}]") for index, element in enumerate(items)]


def _typed(value: Any, kind: type[_T], where: str) -> _T:
    if not isinstance(value, kind):
        raise _BadShape(f"{where}: expected {kind.__name__}, found {type(value).__name__}")
    return value


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _int_from(value: Any, where: str) -> int:
    if not _is_int(value):
        raise _BadShape(f"{where}: expected an integer, found {value!r}")
    return int(value)


def _float_from(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _BadShape(f"{where}: expected a number, found {value!r}")
    return float(value)


def _str_from(value: Any, where: str) -> str:
    return _typed(value, str, where)


# -- files -----------------------------------------------------------------------------------


def save(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` atomically and durably (blocking; run it in a thread)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    _fsync_directory(path.parent)


def _fsync_directory(directory: Path) -> None:
    """Make the rename itself durable (POSIX; directories cannot be opened on Windows)."""
    if os.name != "posix":
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def load(path: Path) -> StoreState | None:
    """The saved state, or None when there is no snapshot yet (blocking)."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise SnapshotError(f"cannot restore {path}: {exc.strerror or exc}") from None
    return decode(raw, path)
