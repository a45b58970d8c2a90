"""Cron entries: ``[[cron]]`` tables checked field by field into frozen :class:`CronEntry` values.

Sources, in the order the schedule lists them (docs/cron.md):

1. ``[[cron]]`` tables of ``<config dir>/conf.d/*.toml`` (``Config.cron``), re-read on SIGHUP;
2. ``FAKTORY_CRON_TOML`` (TOML text) or ``FAKTORY_CRON_TOML_BASE64`` (the same, base64), read
   once when the server starts;
3. entries other plugins contribute through ``faktory_core_cron_entries`` (``[[cron]]``-shaped
   mappings or :class:`CronEntry` values), asked at start-up and on reload.

Every problem is reported with where it is (file or variable, entry number and name) and the
field, e.g. ``conf.d/cron.toml: [[cron]] #2 "nightly": job.queue: ...``; a schedule with any
problem is refused whole (:class:`CronConfigError`), never half-read.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import math
import os
import re
import secrets
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime, time, tzinfo
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import attrs

from faktory_core.config import Config
from faktory_core.errors import FaktoryError
from faktory_core.model import (
    DEFAULT_QUEUE,
    DEFAULT_RETRY,
    MAX_RESERVE_FOR,
    Job,
    job_from_dict,
    valid_queue_name,
)
from faktory_core.plugins.cron import _croniter
from faktory_core.plugins.cron.describe import NAMED_SCHEDULES
from faktory_core.timefmt import format_ts

__all__ = [
    "ENV_BASE64",
    "ENV_TOML",
    "CronConfigError",
    "CronEntry",
    "check_unique",
    "conf_d_entries",
    "decode_base64",
    "entries_from_env",
    "entries_from_toml",
    "parse_entries",
    "parse_entry",
]

ENV_TOML = "FAKTORY_CRON_TOML"
ENV_BASE64 = "FAKTORY_CRON_TOML_BASE64"
DEFAULT_TIMEZONE = "UTC"
MAX_NAME = 100
ENTRY_KEYS = ("name", "schedule", "timezone", "job")
JOB_KEYS = ("type", "queue", "retry", "args", "reserve_for", "custom")
#: A hashed (``H``) or random (``R``) crontab field: each server would pick its own minute.
_HASHED = re.compile(r"[hr](?:\(|/|\Z)", re.ASCII | re.IGNORECASE)


class CronConfigError(ValueError):
    """The schedule is refused; ``problems`` has one line per problem, each naming where."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = tuple(problems)
        count = len(self.problems)
        head = "bad cron schedule" if count == 1 else f"bad cron schedule ({count} problems)"
        super().__init__(head + ":\n  " + "\n  ".join(self.problems))


class _FieldError(Exception):
    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.message = message


@attrs.frozen
class CronEntry:
    """One periodic job. Its job fields are kept as JSON text so every tick gets fresh copies."""

    #: The entry's ``name``, else a stable hash of its schedule, time zone and job.
    identity: str
    name: str | None
    #: ``schedule`` as written (whitespace collapsed); :attr:`expression` is what croniter reads.
    schedule: str
    expression: str
    timezone: str
    zone: tzinfo = attrs.field(eq=False, repr=False)
    jobtype: str
    queue: str = DEFAULT_QUEUE
    retry: int = DEFAULT_RETRY
    reserve_for: int = 0
    args_json: str = "[]"
    custom_json: str = "{}"
    #: ``[cron.job.custom] expires_in``: each job gets ``custom.expires_at`` = tick + this.
    expires_in: float | None = None
    #: Where the entry came from, for messages: ``conf.d/cron.toml: [[cron]] #2 "nightly"``.
    source: str = ""

    @property
    def label(self) -> str:
        return self.name if self.name is not None else self.identity

    @property
    def args(self) -> list[Any]:
        found: list[Any] = json.loads(self.args_json)
        return found

    @property
    def custom(self) -> dict[str, Any]:
        found: dict[str, Any] = json.loads(self.custom_json)
        return found

    def next_after(self, instant: float) -> float:
        """The first tick strictly after ``instant`` (Unix seconds)."""
        return _croniter.next_after(self.expression, instant, self.zone)

    def ticks(self, after: float, until: float) -> list[float]:
        """Every tick in ``(after, until]``, oldest first."""
        found: list[float] = []
        tick = self.next_after(after)
        while tick <= until:
            found.append(tick)
            tick = self.next_after(tick)
        return found

    def make_job(self, now: float) -> Job:
        """A fresh job for a tick at ``now``: new jid, the entry's fields, and with
        ``expires_in``, ``custom.expires_at`` = ``now`` + ``expires_in`` (as Faktory's Go client
        turns ``SetExpiresIn`` into ``expires_at``)."""
        custom = self.custom
        if self.expires_in is not None:
            custom["expires_at"] = format_ts(now + self.expires_in)
        data: dict[str, Any] = {
            "jid": secrets.token_hex(12),
            "jobtype": self.jobtype,
            "queue": self.queue,
            "retry": self.retry,
            "args": self.args,
            "custom": custom or None,
        }
        if self.reserve_for:
            data["reserve_for"] = self.reserve_for
        return job_from_dict(data)

    def job_dict(self) -> dict[str, Any]:
        """The job template, ``[cron.job]``-shaped (``expires_in`` back inside ``custom``)."""
        custom = self.custom
        if self.expires_in is not None:
            custom["expires_in"] = _number_out(self.expires_in)
        data: dict[str, Any] = {
            "type": self.jobtype,
            "queue": self.queue,
            "retry": self.retry,
            "args": self.args,
        }
        if self.reserve_for:
            data["reserve_for"] = self.reserve_for
        if custom:
            data["custom"] = custom
        return data


def _number_out(value: float) -> float | int:
    return int(value) if float(value).is_integer() else value


# -- checking one entry --------------------------------------------------------------------------


def _where(source: str, index: int, raw: Any) -> str:
    name = raw.get("name") if isinstance(raw, Mapping) else None
    label = f" {json.dumps(name, ensure_ascii=False)}" if isinstance(name, str) else ""
    return f"{source}: [[cron]] #{index}{label}"


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _unknown_keys(table: Mapping[str, Any], allowed: Sequence[str], prefix: str) -> None:
    for key in table:
        if key not in allowed:
            choices = ", ".join(allowed)
            raise _FieldError(f"{prefix}{key}", f"unknown key (expected one of: {choices})")


def _json_ready(value: Any, field: str) -> None:
    """TOML can hold values JSON cannot (dates and times, NaN, infinity): refuse them here."""
    if isinstance(value, datetime | date | time):
        raise _FieldError(field, "a TOML date or time is not JSON; write it as a string")
    if isinstance(value, float) and not math.isfinite(value):
        raise _FieldError(field, f"{value} is not a JSON number")
    if isinstance(value, Mapping):
        for key, item in value.items():
            _json_ready(item, f"{field}.{key}")
    elif isinstance(value, list | tuple):
        for position, item in enumerate(value):
            _json_ready(item, f"{field}[{position}]")


def _name(raw: Mapping[str, Any]) -> str | None:
    name = raw.get("name")
    if name is None:
        return None
    if not isinstance(name, str):
        raise _FieldError("name", "must be a string")
    if not name or name != name.strip() or not name.isprintable() or len(name) > MAX_NAME:
        raise _FieldError(
            "name",
            f"must be 1 to {MAX_NAME} printable characters without leading or trailing spaces",
        )
    return name


def _zone(raw: Mapping[str, Any]) -> tuple[str, tzinfo]:
    name = raw.get("timezone", DEFAULT_TIMEZONE)
    if not isinstance(name, str):
        raise _FieldError("timezone", 'must be a string such as "Europe/Berlin"')
    try:
        return name, ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise _FieldError(
            "timezone", f'unknown time zone {name!r} (use an IANA name such as "Europe/Berlin")'
        ) from None


def _schedule(raw: Mapping[str, Any], zone: tzinfo, now: float) -> tuple[str, str]:
    value = raw.get("schedule")
    if value is None:
        raise _FieldError("schedule", 'is missing (e.g. schedule = "*/5 * * * *")')
    if not isinstance(value, str):
        raise _FieldError("schedule", "must be a string")
    schedule = " ".join(value.split())
    if schedule.startswith("@"):
        expression = NAMED_SCHEDULES.get(schedule.lower())
        if expression is None:
            names = ", ".join(NAMED_SCHEDULES)
            raise _FieldError("schedule", f"unknown name {schedule!r} (expected one of: {names})")
        return schedule, expression
    fields = schedule.split(" ") if schedule else []
    if len(fields) != 5:
        raise _FieldError(
            "schedule",
            f"{value!r} has {len(fields)} fields; expected 5 (minute hour day-of-month month "
            "day-of-week) or a name such as @hourly",
        )
    for field in fields:
        if any(_HASHED.match(part) for part in field.split(",")):
            raise _FieldError(
                "schedule",
                f"{value!r}: hashed (H) and random (R) fields are not supported "
                "(every server sharing the store must compute the same ticks)",
            )
    try:
        _croniter.check(schedule, zone, now)
    except _croniter.ScheduleError as exc:
        raise _FieldError(
            "schedule", f"{value!r} is not a valid crontab expression: {exc}"
        ) from None
    return schedule, schedule


def _job_fields(job: Mapping[str, Any]) -> dict[str, Any]:
    _unknown_keys(job, JOB_KEYS, "job.")
    jobtype = job.get("type")
    if not isinstance(jobtype, str) or not jobtype:
        raise _FieldError("job.type", "is missing or empty (the job type workers run)")
    queue = job.get("queue", DEFAULT_QUEUE)
    if not isinstance(queue, str) or not valid_queue_name(queue):
        raise _FieldError(
            "job.queue", f"{queue!r} is not a queue name (letters, digits, '.', '_' and '-')"
        )
    retry = job.get("retry", DEFAULT_RETRY)
    if not _is_int(retry):
        raise _FieldError("job.retry", "must be an integer (retries before the dead set)")
    reserve_for = job.get("reserve_for", 0)
    if not _is_int(reserve_for) or not 0 <= reserve_for <= MAX_RESERVE_FOR:
        raise _FieldError(
            "job.reserve_for", f"must be an integer number of seconds, 0 to {MAX_RESERVE_FOR}"
        )
    args = job.get("args", [])
    if not isinstance(args, list | tuple):
        raise _FieldError("job.args", 'must be an array (e.g. args = [1, "two"])')
    _json_ready(args, "job.args")
    return {
        "jobtype": jobtype,
        "queue": queue,
        "retry": retry,
        "reserve_for": reserve_for,
        "args": list(args),
    }


def _custom(job: Mapping[str, Any]) -> tuple[dict[str, Any], float | None]:
    custom = job.get("custom", {})
    if not isinstance(custom, Mapping):
        raise _FieldError("job.custom", "must be a table ([cron.job.custom])")
    _json_ready(custom, "job.custom")
    fields = {key: _plain(value) for key, value in custom.items()}
    expires_in = fields.pop("expires_in", None)
    if expires_in is not None and (
        isinstance(expires_in, bool) or not isinstance(expires_in, int | float) or expires_in <= 0
    ):
        raise _FieldError("job.custom.expires_in", "must be a positive number of seconds")
    return fields, expires_in


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value


def _identity(schedule: str, timezone: str, job: Mapping[str, Any]) -> str:
    canonical = json.dumps(
        {"schedule": schedule, "timezone": timezone, "job": job},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:12]


def _build(raw: Any, now: float, where: str) -> CronEntry:
    if isinstance(raw, CronEntry):
        return raw
    if not isinstance(raw, Mapping):
        raise _FieldError("entry", "must be a table ([[cron]])")
    _unknown_keys(raw, ENTRY_KEYS, "")
    name = _name(raw)
    timezone, zone = _zone(raw)
    schedule, expression = _schedule(raw, zone, now)
    job = raw.get("job")
    if not isinstance(job, Mapping):
        raise _FieldError("job", "is missing (a [cron.job] table with at least type)")
    fields = _job_fields(job)
    custom, expires_in = _custom(job)
    entry = CronEntry(
        identity="",
        name=name,
        schedule=schedule,
        expression=expression,
        timezone=timezone,
        zone=zone,
        args_json=json.dumps(fields.pop("args"), ensure_ascii=False),
        custom_json=json.dumps(custom, ensure_ascii=False),
        expires_in=expires_in,
        source=where,
        **fields,
    )
    identity = name if name is not None else _identity(schedule, timezone, entry.job_dict())
    try:
        entry.make_job(now)  # whatever the job checks would refuse, refuse now
    except FaktoryError as exc:
        raise _FieldError("job", exc.message) from None
    return attrs.evolve(entry, identity=identity)


def parse_entry(raw: Any, *, source: str, index: int, now: float) -> CronEntry:
    """Check one ``[[cron]]`` table (number ``index``, from 1, of ``source``).

    Raises :class:`CronConfigError` naming the source, the entry and the field.
    """
    where = _where(source, index, raw)
    try:
        return _build(raw, now, where)
    except _FieldError as exc:
        raise CronConfigError([f"{where}: {exc.field}: {exc.message}"]) from None


def parse_entries(raws: Iterable[Any], *, source: str, now: float) -> list[CronEntry]:
    """Check every entry; raise one :class:`CronConfigError` listing every problem."""
    return _parse_all(((raw, source, index) for index, raw in enumerate(raws, start=1)), now)


def _parse_all(found: Iterable[tuple[Any, str, int]], now: float) -> list[CronEntry]:
    """:func:`parse_entry` for each (raw, source, index), every problem in one error."""
    entries: list[CronEntry] = []
    problems: list[str] = []
    for raw, source, index in found:
        try:
            entries.append(parse_entry(raw, source=source, index=index, now=now))
        except CronConfigError as exc:
            problems.extend(exc.problems)
    if problems:
        raise CronConfigError(problems)
    return entries


def check_unique(entries: Sequence[CronEntry]) -> None:
    """Two entries with one identity would share claims and pause flags: refuse them."""
    seen: dict[str, CronEntry] = {}
    problems: list[str] = []
    for entry in entries:
        other = seen.setdefault(entry.identity, entry)
        if other is entry:
            continue
        why = (
            f"the name {entry.name!r} is also used by {other.source}"
            if entry.name is not None
            else f"it has the same schedule and job as {other.source}; give one a name"
        )
        problems.append(f"{entry.source}: name: {why}")
    if problems:
        raise CronConfigError(problems)


# -- sources -------------------------------------------------------------------------------------


def entries_from_toml(text: str, *, source: str, now: float) -> list[CronEntry]:
    """The ``[[cron]]`` tables of a TOML document (a file or a variable's text)."""
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CronConfigError([f"{source}: not valid TOML: {exc}"]) from None
    others = [key for key in document if key != "cron"]
    if others:
        listed = ", ".join(others)
        raise CronConfigError([f"{source}: only [[cron]] tables belong here; found: {listed}"])
    raws = document.get("cron", [])
    if not isinstance(raws, list):
        raise CronConfigError([f"{source}: cron must be an array of tables ([[cron]])"])
    return parse_entries(raws, source=source, now=now)


def decode_base64(text: str, *, source: str) -> str:
    """Base64 (standard alphabet; whitespace and line breaks ignored) to UTF-8 text."""
    packed = "".join(text.split())
    try:
        raw = base64.b64decode(packed, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise CronConfigError([f"{source}: not valid base64: {exc}"]) from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CronConfigError(
            [f"{source}: the decoded bytes are not UTF-8 text (byte {exc.start})"]
        ) from None


def entries_from_env(environ: Mapping[str, str], *, now: float) -> list[CronEntry]:
    """Entries from ``FAKTORY_CRON_TOML`` or ``FAKTORY_CRON_TOML_BASE64`` (not both)."""
    plain, packed = environ.get(ENV_TOML), environ.get(ENV_BASE64)
    if plain is not None and packed is not None:
        raise CronConfigError(
            [f"{ENV_TOML} and {ENV_BASE64} are both set; set one (the same TOML, plain or base64)"]
        )
    if plain is not None:
        return entries_from_toml(plain, source=ENV_TOML, now=now)
    if packed is not None:
        text = decode_base64(packed, source=ENV_BASE64)
        return entries_from_toml(text, source=ENV_BASE64, now=now)
    return []


def _toml_files(folder: Path) -> list[Path]:
    try:
        names = sorted(os.listdir(folder))
    except OSError:
        return []
    return [folder / n for n in names if n.endswith(".toml") and not (folder / n).is_dir()]


def _conf_d_sources(config: Config) -> list[tuple[str, int]] | None:
    """(file, entry number in that file) for each of ``config.cron``, by reading the files
    again; None when they no longer hold exactly those entries (changed since)."""
    found: list[tuple[str, int, Any]] = []
    for path in _toml_files(config.config_dir / "conf.d"):
        try:
            document = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
            return None
        raws = document.get("cron", [])
        if isinstance(raws, list):
            found.extend((str(path), n, raw) for n, raw in enumerate(raws, start=1))
    if [raw for _, _, raw in found] != list(config.cron):
        return None
    return [(path, n) for path, n, _ in found]


def conf_d_entries(config: Config, *, now: float) -> list[CronEntry]:
    """The ``[[cron]]`` entries of ``config``, each named by its file and number there."""
    sources = _conf_d_sources(config)
    if sources is None:
        folder = str(config.config_dir / "conf.d")
        return parse_entries(config.cron, source=folder, now=now)
    pairs = zip(config.cron, sources, strict=True)
    return _parse_all(((raw, path, index) for raw, (path, index) in pairs), now)
