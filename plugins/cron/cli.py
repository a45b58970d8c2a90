"""``faktory-core cron check|encode|decode``: check a schedule and move it in and out of base64.

``run(argv)`` takes the arguments after ``cron`` and returns the exit status: 0 fine, 1 a bad
schedule or input (each problem on stderr, naming file, entry and field), 2 a bad command line.

- ``check [FILES]``: validate ``[[cron]]`` TOML files (``-`` reads standard input) and print each
  entry with its next five run times in its own time zone. Without files: the server's conf.d
  (``-c DIR``, else the default config directory of ``FAKTORY_ENV``) and the
  ``FAKTORY_CRON_TOML``/``FAKTORY_CRON_TOML_BASE64`` variables, as the server would read them.
- ``encode FILE``: check FILE, then print it as base64 for ``FAKTORY_CRON_TOML_BASE64``.
- ``decode [TEXT]``: print the TOML inside base64 TEXT (else standard input).
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import sys
import time
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import IO, NoReturn

from faktory_core.config import Config
from faktory_core.plugins.cron.describe import describe
from faktory_core.plugins.cron.entries import (
    CronConfigError,
    CronEntry,
    check_unique,
    conf_d_entries,
    decode_base64,
    entries_from_env,
    entries_from_toml,
)
from faktory_core.settings import SERVER_CONFIG_DIR
from faktory_core.timefmt import BadTimestamp, parse_ts

__all__ = ["RUNS_SHOWN", "format_entry", "run"]

PROG = "faktory-core cron"
#: How many upcoming runs ``check`` lists per entry.
RUNS_SHOWN = 5
STDIN = "-"


class _Usage(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise _Usage(message)


def _parser() -> _Parser:
    parser = _Parser(prog=PROG, description="Check and encode cron schedules.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    check = commands.add_parser(
        "check", help="validate [[cron]] TOML and print each entry's next run times"
    )
    check.add_argument("files", nargs="*", metavar="FILE", help="TOML files (- = stdin)")
    check.add_argument(
        "-c", dest="config_dir", metavar="DIR", help="config directory (without FILES)"
    )
    check.add_argument(
        "--after",
        metavar="TIME",
        help="list runs after this RFC 3339 time (default: now), e.g. 2025-01-01T00:00:00Z",
    )
    encode = commands.add_parser("encode", help="check FILE and print it as base64")
    encode.add_argument("file", metavar="FILE", help="a TOML file (- = stdin)")
    decode = commands.add_parser("decode", help="print the TOML inside base64 text")
    decode.add_argument("text", nargs="?", metavar="TEXT", help="base64 (default: stdin)")
    return parser


def _read(name: str, stdin: IO[str]) -> str:
    if name == STDIN:
        return stdin.read()
    try:
        return Path(name).read_text(encoding="utf-8")
    except OSError as exc:
        raise CronConfigError([f"{name}: cannot read: {exc.strerror or exc}"]) from None
    except UnicodeDecodeError as exc:
        raise CronConfigError([f"{name}: not UTF-8 text (byte {exc.start})"]) from None


def _default_config_dir(environ: Mapping[str, str]) -> Path:
    if (environ.get("FAKTORY_ENV") or "development") == "development":
        home = environ.get("HOME")
        return (Path(home) if home else Path.home()) / ".faktory"
    return SERVER_CONFIG_DIR


def _server_entries(
    config_dir: Path, environ: Mapping[str, str], now: float
) -> tuple[list[CronEntry], str]:
    """What a server with this config directory and environment would schedule."""
    from faktory_core.settings import ConfigError, read_conf_d

    try:
        conf = read_conf_d(config_dir)
    except ConfigError as exc:
        raise CronConfigError([str(exc)]) from None
    raws = conf.document.get("cron", [])
    if not isinstance(raws, list):
        raise CronConfigError([f"{conf.where('cron')}: cron must be an array of tables ([[cron]])"])
    config = Config(config_dir=config_dir, cron=tuple(raws))
    problems: list[str] = []
    entries: list[CronEntry] = []
    try:
        entries.extend(conf_d_entries(config, now=now))
    except CronConfigError as exc:
        problems.extend(exc.problems)
    try:
        entries.extend(entries_from_env(environ, now=now))
    except CronConfigError as exc:
        problems.extend(exc.problems)
    if problems:
        raise CronConfigError(problems)
    return entries, f"{config_dir / 'conf.d'} and the FAKTORY_CRON_TOML variables"


def _json(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(", ", ": "))


def format_entry(entry: CronEntry, after: float, runs: int = RUNS_SHOWN) -> str:
    """An entry as ``check`` prints it, with its next ``runs`` run times in its time zone."""
    described = describe(entry.schedule)
    schedule = f"{entry.schedule} ({described})" if described else entry.schedule
    job = entry.job_dict()
    details = [f"queue {entry.queue}", f"retry {entry.retry}", f"args {_json(job['args'])}"]
    if entry.reserve_for:
        details.append(f"reserve_for {entry.reserve_for}")
    if "custom" in job:
        details.append(f"custom {_json(job['custom'])}")
    lines = [
        entry.source,
        f"  identity: {entry.identity}",
        f"  schedule: {schedule}, time zone {entry.timezone}",
        f"  job:      {entry.jobtype}, {', '.join(details)}",
    ]
    tick = after
    for number in range(runs):
        tick = entry.next_after(tick)
        stamp = datetime.fromtimestamp(tick, entry.zone).strftime("%a %Y-%m-%d %H:%M %Z (%z)")
        lines.append(f"  {'next:' if number == 0 else '':9} {stamp}")
    return "\n".join(lines)


def _check(
    files: Sequence[str],
    config_dir: str | None,
    after: str | None,
    environ: Mapping[str, str],
    out: IO[str],
    stdin: IO[str],
) -> None:
    if after is None:
        now = time.time()
    else:
        try:
            now = parse_ts(after)
        except BadTimestamp as exc:
            raise _Usage(f"--after {after!r}: {exc}") from None
    if files:
        if config_dir is not None:
            raise _Usage("-c reads a config directory; give it or FILES, not both")
        entries: list[CronEntry] = []
        problems: list[str] = []
        for name in files:
            try:
                text = _read(name, stdin)
                source = "<stdin>" if name == STDIN else name
                entries.extend(entries_from_toml(text, source=source, now=now))
            except CronConfigError as exc:
                problems.extend(exc.problems)
        if problems:
            raise CronConfigError(problems)
        where = ", ".join(files)
    else:
        folder = Path(config_dir) if config_dir else _default_config_dir(environ)
        entries, where = _server_entries(folder, environ, now)
    check_unique(entries)
    if not entries:
        print(f"no [[cron]] entries in {where}", file=out)
        return
    print("\n\n".join(format_entry(entry, now) for entry in entries), file=out)
    plural = "y" if len(entries) == 1 else "ies"
    print(f"\n{len(entries)} cron entr{plural}, all valid", file=out)


def _encode(name: str, out: IO[str], stdin: IO[str]) -> None:
    text = _read(name, stdin)
    entries_from_toml(text, source="<stdin>" if name == STDIN else name, now=time.time())
    print(base64.b64encode(text.encode("utf-8")).decode("ascii"), file=out)


def _decode(text: str | None, out: IO[str], stdin: IO[str]) -> None:
    source = "TEXT" if text is not None else "<stdin>"
    decoded = decode_base64(stdin.read() if text is None else text, source=source)
    out.write(decoded if decoded.endswith("\n") or not decoded else decoded + "\n")
    entries_from_toml(decoded, source="the decoded TOML", now=time.time())


def run(
    argv: Sequence[str],
    *,
    environ: Mapping[str, str] | None = None,
    stdin: IO[str] | None = None,
    stdout: IO[str] | None = None,
    stderr: IO[str] | None = None,
) -> int:
    """``faktory-core cron ARGS``: the exit status (0 fine, 1 bad schedule or input, 2 usage)."""
    out, err = stdout or sys.stdout, stderr or sys.stderr
    source = stdin or sys.stdin
    env = os.environ if environ is None else environ
    try:
        args = _parser().parse_args(list(argv))
        if args.command == "check":
            _check(args.files, args.config_dir, args.after, env, out, source)
        elif args.command == "encode":
            _encode(args.file, out, source)
        else:
            _decode(args.text, out, source)
    except _Usage as exc:
        print(f"{PROG}: {exc} (see {PROG} -h)", file=err)
        return 2
    except SystemExit as exc:  # argparse's -h
        return exc.code if isinstance(exc.code, int) else 0
    except CronConfigError as exc:
        print(f"{PROG}: {exc}", file=err)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(run(sys.argv[1:]))
