"""The memory store's write-ahead journal: every acknowledged change, appended before the reply.

A journal file is ``memory_store-<generation>.journal`` in the storage directory. It starts with
a 16-byte header (:data:`MAGIC`, the format version and the generation, big-endian ``u32``), then
records, each ``u32 length | u32 CRC-32 of the payload | payload``; the payload is a pickle
of plain values, loaded with no class allowed (``store._encode``). The snapshot names the
generation that follows it; start-up loads the snapshot and replays that journal and every
later one.

The fsync policy (Redis's names) decides when the data reaches the disk: ``always`` before
the reply, ``everysec`` about once a second (a background thread), ``no`` never explicitly.
Under ``always``, group commit: a change appends its record to a buffer and awaits
:meth:`Journal.commit`; one callback, scheduled once per event-loop pass, writes everything
buffered with one ``os.write`` and one ``fsync`` and wakes every waiter of that group, so
pipelined and concurrent clients share the fsync. Under ``everysec`` and ``no`` there is no
fsync to share, and a change writes its record at once (:meth:`Journal.write_now`): cheaper
than a group's wait, and just as much on disk before the reply leaves.

A write that fails (disk full, file too large, an I/O error) keeps the unwritten bytes, answers
every waiter of the group with :class:`~faktory_core.errors.StoreError`, refuses new changes
(:meth:`Journal.check`) and retries every :data:`RETRY_SECONDS`; once the bytes are written the
store accepts changes again.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import os
import re
import struct
import zlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs

from faktory_core.errors import StoreError

__all__ = [
    "HEADER_SIZE",
    "MAGIC",
    "VERSION",
    "FsyncPolicy",
    "Journal",
    "JournalError",
    "JournalSettings",
    "Scanned",
    "check_sequence",
    "create",
    "damage_message",
    "frame",
    "journal_path",
    "list_journals",
    "prune",
    "scan",
]

log = logging.getLogger("faktory_core.memory_store")

MAGIC = b"FKCJRNL\n"
#: 2: a pushed job is recorded as its fields (``j``, ``J``) instead of its dict (``p``, ``P``,
#: still replayed). An older faktory-core refuses a version 2 journal by this number.
VERSION = 2
_HEADER = struct.Struct(">8sII")
_RECORD = struct.Struct(">II")
HEADER_SIZE = _HEADER.size
#: No record is larger: PUSHB's chunk of 1,000 jobs at the 16 MiB line limit stays below it.
MAX_RECORD = 256 * 1024 * 1024
#: How often a failed write is tried again.
RETRY_SECONDS = 1.0
#: ``everysec``: the background fsync's period.
FSYNC_SECONDS = 1.0
#: Compaction starts when the journal passes this size (``[memory_store] compact_mib``).
DEFAULT_COMPACT_MIB = 64
_NAME = re.compile(r"\Amemory_store-(\d{8,})\.journal\Z")


class FsyncPolicy(enum.StrEnum):
    ALWAYS = "always"
    EVERYSEC = "everysec"
    NO = "no"


class JournalError(RuntimeError):
    """A journal cannot be replayed; the message names the file, the offset and what to do."""


def journal_path(directory: Path, generation: int) -> Path:
    return directory / f"memory_store-{generation:08d}.journal"


def list_journals(directory: Path) -> list[tuple[int, Path]]:
    """Every journal file in ``directory``, by generation."""
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return []
    found = [(int(m.group(1)), directory / name) for name in names if (m := _NAME.match(name))]
    return sorted(found)


def frame(payload: bytes) -> bytes:
    return _RECORD.pack(len(payload), zlib.crc32(payload)) + payload


def create(path: Path, generation: int) -> None:
    """Write a new, empty journal atomically (header only; blocking)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.tmp")
    with open(temp, "wb") as file:
        file.write(_HEADER.pack(MAGIC, VERSION, generation))
        file.flush()
        os.fsync(file.fileno())
    os.replace(temp, path)
    fsync_directory(path.parent)


def fsync_file(path: Path) -> None:
    """fsync a closed file (blocking): its written pages reach the disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@attrs.frozen
class Scanned:
    """A journal file read back: its valid records and what follows them."""

    records: list[tuple[int, bytes]]  # (offset, payload)
    end: int  # offset after the last valid record
    #: Why the bytes after ``end`` are not records: a torn tail (the crash happened while the
    #: last write was under way) or damage before the end; None when the file ends cleanly.
    problem: str | None = None
    torn: bool = False
    version: int = VERSION  # the header's


def scan(path: Path, generation: int) -> Scanned:
    """Read and check a whole journal file (blocking). A bad header raises JournalError."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise JournalError(f"cannot read the journal {path}: {exc.strerror or exc}") from None
    version = _check_header(data, path, generation)
    records: list[tuple[int, bytes]] = []
    offset = HEADER_SIZE
    while offset < len(data):
        problem = _bad_record(data, offset)
        if problem is not None:
            return Scanned(records, offset, problem, _is_torn(data, offset), version)
        length = _RECORD.unpack_from(data, offset)[0]
        start = offset + _RECORD.size
        records.append((offset, data[start : start + length]))
        offset = start + length
    return Scanned(records, offset, version=version)


def cut(path: Path, end: int) -> None:
    """Cut a journal after its first ``end`` bytes (a torn tail) and fsync it (blocking)."""
    with open(path, "r+b") as file:
        file.truncate(end)
        os.fsync(file.fileno())


def _check_header(data: bytes, path: Path, generation: int) -> int:
    if len(data) < HEADER_SIZE or data[:8] != MAGIC:
        raise JournalError(f"{path} is not a faktory-core journal (bad header)")
    _, version, written_for = _HEADER.unpack_from(data)
    if version > VERSION:
        raise JournalError(
            f"{path} was written by a newer faktory-core (journal version {version}, this "
            f"version reads up to {VERSION}); run that version, or move the file away"
        )
    if written_for != generation:
        raise JournalError(f"{path}: its header says generation {written_for}, not {generation}")
    return int(version)


def _bad_record(data: bytes, offset: int) -> str | None:
    if len(data) - offset < _RECORD.size:
        return "incomplete record header"
    length, crc = _RECORD.unpack_from(data, offset)
    start = offset + _RECORD.size
    if length == 0 or length > MAX_RECORD:
        return f"impossible record length {length}"
    if start + length > len(data):
        return "record cut short"
    if zlib.crc32(data[start : start + length]) != crc:
        return "checksum mismatch"
    return None


def _is_torn(data: bytes, offset: int) -> bool:
    """A crash mid-write leaves a prefix of the last record (or zeros the file system added):
    nothing valid can follow it. A bad record followed by more data is damage."""
    if len(data) - offset < _RECORD.size:
        return True
    length = _RECORD.unpack_from(data, offset)[0]
    end = offset + _RECORD.size + length
    return end >= len(data) or not data[offset:].strip(b"\x00")


@attrs.define(eq=False)
class _Group:
    """The records buffered in one event-loop pass, and the event their writers wait on."""

    done: asyncio.Event = attrs.field(factory=asyncio.Event)
    error: str | None = None


@attrs.define(eq=False)
class Journal:
    """The open journal file being appended to (one per store)."""

    path: Path
    generation: int
    policy: FsyncPolicy
    size: int
    _fd: int
    _loop: asyncio.AbstractEventLoop
    _buffer: list[bytes] = attrs.field(factory=list)
    #: Bytes a failed write left behind: written first, before anything newer.
    _pending: bytes = b""
    _group: _Group | None = None
    _scheduled: bool = False
    _dirty: bool = False
    _timer: asyncio.TimerHandle | None = None
    _retry: asyncio.TimerHandle | None = None
    #: Why writing fails; None while the journal writes.
    failing: str | None = None

    @classmethod
    def open(cls, path: Path, generation: int, policy: FsyncPolicy, end: int) -> Journal:
        """Append to ``path`` after its first ``end`` bytes (a torn tail is cut off)."""
        fd = os.open(path, os.O_WRONLY | os.O_APPEND)
        try:
            os.truncate(fd, end)
        except BaseException:
            os.close(fd)
            raise
        journal = cls(path, generation, policy, end, fd, asyncio.get_running_loop())
        journal._arm_fsync_timer()
        return journal

    # -- the hot path -----------------------------------------------------------------------
    def check(self) -> None:
        """Refuse a change while writing fails (it would not be acknowledged)."""
        if self.failing is not None:
            raise StoreError(self.failing)

    def append(self, payload: bytes) -> None:
        self._buffer.append(frame(payload))
        if self._group is None:
            self._group = _Group()
        if not self._scheduled:
            self._scheduled = True
            self._loop.call_soon(self._flush)

    @property
    def grouped(self) -> bool:
        """Whether changes wait for a group commit (``always``) or write at once."""
        return self.policy is FsyncPolicy.ALWAYS

    def write_now(self, payload: bytes) -> None:
        """``everysec``/``no``: write this record at once, before the method returns.

        Measured (docs/performance.md): a write to the page cache costs about 0.5 µs, while
        waiting for a group costs the change's task a suspension and a wake-up (about 10 µs),
        so without an fsync to share, writing at once is the cheaper way to be on disk
        before the reply leaves.
        """
        data = _RECORD.pack(len(payload), zlib.crc32(payload)) + payload
        if not self._pending and not self._buffer:
            try:
                written = os.write(self._fd, data)
            except OSError as exc:
                self._pending = data
                raise StoreError(self._failed(exc)) from None
            self.size += written
            if written == len(data):
                self._dirty = True
                return
            data = data[written:]
        self._buffer.append(data)
        error = self.write_buffered()
        if error is not None:
            raise StoreError(error)

    async def commit(self) -> None:
        """Wait until the records appended so far are written (fsynced under ``always``)."""
        group = self._group
        if group is None:
            return
        await group.done.wait()
        if group.error is not None:
            raise StoreError(group.error)

    # -- writing ----------------------------------------------------------------------------
    def _flush(self) -> None:
        self._scheduled = False
        group, self._group = self._group, None
        error = self.write_buffered()
        if group is not None:
            group.error = error
            group.done.set()

    def write_buffered(self) -> str | None:
        """Write the pending and buffered bytes now (blocking, on the loop); the error text."""
        data = self._pending + b"".join(self._buffer)
        self._buffer.clear()
        view = memoryview(data)
        try:
            while view:
                written = os.write(self._fd, view)
                view = view[written:]
                self.size += written
            if self.policy is FsyncPolicy.ALWAYS and data:
                os.fsync(self._fd)
        except OSError as exc:
            self._pending = bytes(view)
            return self._failed(exc)
        self._pending = b""
        self._dirty = self._dirty or bool(data)
        if self.failing is not None:
            log.warning("the journal %s is writable again", self.path)
            self.failing = None
        return None

    def _failed(self, exc: OSError) -> str:
        reason = f"cannot write the journal {self.path}: {exc.strerror or exc}"
        if self.failing is None:
            log.error("%s; changes are refused until it can be written again", reason)
        self.failing = reason
        if self._retry is None:
            self._retry = self._loop.call_later(RETRY_SECONDS, self._try_again)
        return reason

    def _try_again(self) -> None:
        self._retry = None
        if self._pending or self._buffer:
            self.write_buffered()
        elif self.failing is not None:
            self.failing = None

    def _arm_fsync_timer(self) -> None:
        if self.policy is FsyncPolicy.EVERYSEC:
            self._timer = self._loop.call_later(FSYNC_SECONDS, self._background_fsync)

    def _background_fsync(self) -> None:
        if self._dirty:
            self._dirty = False
            self._loop.run_in_executor(None, self._fsync_quietly, self._fd)
        self._arm_fsync_timer()

    def _fsync_quietly(self, fd: int) -> None:
        try:
            os.fsync(fd)
        except OSError as exc:  # e.g. the file was closed meanwhile by a rotation
            log.warning("fsync of the journal %s failed: %s", self.path, exc)

    # -- ending -----------------------------------------------------------------------------
    def close(self, *, fsync: bool = True) -> str | None:
        """Write what is buffered, fsync (unless told not to: the caller then fsyncs the file
        off the event loop) and close; the error text if something was not."""
        for handle in (self._timer, self._retry):
            if handle is not None:
                handle.cancel()
        error = self.write_buffered()
        group, self._group = self._group, None
        if group is not None:
            group.error = error
            group.done.set()
        if fsync:
            try:
                os.fsync(self._fd)
            except OSError as exc:
                error = error or f"cannot fsync the journal {self.path}: {exc.strerror or exc}"
        os.close(self._fd)
        return error

    def describe(self) -> dict[str, object]:
        return {
            "journal": str(self.path),
            "journal_bytes": self.size,
            "fsync": self.policy.value,
            "journal_error": self.failing or "",
        }


def prune(directory: Path, generation: int) -> None:
    """Delete the journals before ``generation`` (a snapshot now holds what they held)."""
    for older, path in list_journals(directory):
        if older < generation:
            path.unlink(missing_ok=True)


def damage_message(path: Path, offset: int, problem: str) -> str:
    return (
        f"the journal {path} is damaged at offset {offset} ({problem}). The records before "
        f"that offset are valid; to start from them and lose what follows, run "
        f"`faktory-core journal repair {path.parent}` (it keeps a copy of the rest)"
    )


def check_sequence(
    found: list[tuple[int, Path]], first: int, snapshot: Path | None
) -> list[tuple[int, Path]]:
    """The journals to replay after a snapshot that names generation ``first`` (0: none):
    consecutive, starting at ``first`` (or 1). A gap would lose changes, so it stops the start."""
    live = [(generation, path) for generation, path in found if generation >= first]
    expected = max(first, 1)
    for generation, path in live:
        if generation != expected:
            missing = "the snapshot " + str(snapshot) if first == 0 else f"generation {expected}"
            raise JournalError(
                f"cannot replay {path}: it continues {missing}, which is missing; "
                "restore that file, or move the journals away to start from what is left"
            )
        expected += 1
    return live


def _policy(value: object, where: str) -> FsyncPolicy:
    try:
        return FsyncPolicy(str(value).strip().lower())
    except ValueError:
        choices = ", ".join(policy.value for policy in FsyncPolicy)
        raise ValueError(f"{where} must be one of {choices} (found {value!r})") from None


_SWITCH = {"1": True, "true": True, "on": True, "yes": True}
_SWITCH |= {"0": False, "false": False, "off": False, "no": False}


@attrs.frozen
class JournalSettings:
    """``[memory_store]`` in conf.d, overridden by ``FAKTORY_MEMORY_*`` (docs/configuration.md)."""

    journal: bool = True
    fsync: FsyncPolicy = FsyncPolicy.EVERYSEC
    compact_bytes: int = DEFAULT_COMPACT_MIB * 1024 * 1024

    @classmethod
    def resolve(cls, environ: Mapping[str, str], toml: Mapping[str, Any]) -> JournalSettings:
        table = toml.get("memory_store", {})
        if not isinstance(table, Mapping):
            raise ValueError("[memory_store] in conf.d must be a table")
        fsync = environ.get("FAKTORY_MEMORY_FSYNC") or table.get("fsync", "everysec")
        policy = _policy(fsync, "FAKTORY_MEMORY_FSYNC / [memory_store] fsync")
        switch = environ.get("FAKTORY_MEMORY_JOURNAL")
        if switch is not None:
            if switch.strip().lower() not in _SWITCH:
                raise ValueError(f"FAKTORY_MEMORY_JOURNAL must be on or off (found {switch!r})")
            enabled = _SWITCH[switch.strip().lower()]
        else:
            enabled = table.get("journal", True)
            if not isinstance(enabled, bool):
                raise ValueError("[memory_store] journal must be true or false")
        mib = table.get("compact_mib", DEFAULT_COMPACT_MIB)
        if not isinstance(mib, int) or isinstance(mib, bool) or mib < 1:
            raise ValueError("[memory_store] compact_mib must be an integer of at least 1")
        return cls(enabled, policy, mib * 1024 * 1024)
