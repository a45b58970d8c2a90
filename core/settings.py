"""Build a :class:`~faktory_core.config.Config` from flags, environment and conf.d TOML (§10).

Everything here is a pure function of its arguments (``argv``, an ``environ`` mapping and the
files on disk): nothing writes, logs, prints or exits, so tests call it directly. The command
line (:mod:`faktory_core.cli`) is the thin edge that prints errors and exits.

The precedence, in short (docs/configuration.md has the numbered list, and tests/config/ a test
for each rule):

- ``-e`` beats ``FAKTORY_ENV`` beats ``development``;
- an explicit ``-b``/``-w`` beats ``[faktory] binding``/``[web] binding`` beats the default;
- ``FAKTORY_PASSWORD`` (set, even empty) beats ``[faktory] password``; outside development an
  empty password falls back to ``<config dir>/password``; a value starting with ``/`` names a
  file; outside development no password (and no ``FAKTORY_SKIP_PASSWORD``) refuses to start;
- ``--plugin`` names come first, then ``[faktory] plugins``;
- ``--max-connections`` beats ``FAKTORY_MAX_CONNECTIONS`` beats ``[faktory] max_connections``;
- ``-w :0`` or ``-w off`` turns the web UI off; ``-w host:0`` asks for a free port.

conf.d: every ``<config dir>/conf.d/*.toml``, in alphabetical order, each parsed on its own (so
an error names the file and line), then merged: arrays of tables (``[[cron]]``) concatenate; any
other top-level key (a table such as ``[faktory]``) may appear in one file only.
"""

from __future__ import annotations

import argparse
import copy
import os
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NoReturn

import attrs

from faktory_core.config import ENVIRONMENTS, LIMIT_KEYS, Config, freeze, thaw

__all__ = [
    "DEFAULT_BINDING",
    "DEFAULT_WEB_BINDING",
    "LOG_LEVELS",
    "PASSWORD_REQUIRED",
    "WEB_OFF",
    "ConfD",
    "ConfigError",
    "Flags",
    "UsageError",
    "build_config",
    "parse_flags",
    "read_conf_d",
    "redacted",
    "reload_config",
    "resolve_password",
    "usage",
]

DEFAULT_BINDING = "localhost:7419"
DEFAULT_WEB_BINDING = "localhost:7420"
#: What ``-w`` / ``[web] binding`` take to turn the UI off (the UI plugin reads ``:0`` as off).
WEB_OFF = ":0"
_WEB_OFF_WORDS = frozenset({"off", "none", "false", "0", ":0"})
MAX_CONNECTIONS_VARIABLE = "FAKTORY_MAX_CONNECTIONS"
LOG_LEVELS = ("error", "warn", "info", "debug")
#: Outside development: the defaults when -d / -c are not given (development uses ~/.faktory).
SERVER_STORAGE_DIR = Path("/var/lib/faktory/db")
SERVER_CONFIG_DIR = Path("/etc/faktory")
#: The values of FAKTORY_SKIP_PASSWORD that skip the password requirement (exactly, as Faktory).
SKIP_VALUES = ("1", "true", "yes")
PASSWORD_REQUIRED = (
    "faktory requires a password to be set in staging or production, see the Security wiki page"
)
MASK = "********"


class ConfigError(Exception):
    """The configuration is invalid; the message says what and where, for a person to read."""


class UsageError(ConfigError):
    """The command line itself is wrong (an unknown flag, a missing value)."""


# -- flags ---------------------------------------------------------------------------------------


@attrs.frozen
class Flags:
    """The command line as given: ``None`` means "not given", so a default can be told apart."""

    binding: str | None = None
    web_binding: str | None = None
    environment: str | None = None
    log_level: str = "info"
    storage_dir: str | None = None
    config_dir: str | None = None
    version: bool = False
    help: bool = False
    plugins: tuple[str, ...] = ()
    disabled_plugins: tuple[str, ...] = ()
    max_connections: str | None = None


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


def _parser() -> _Parser:
    parser = _Parser(
        prog="faktory-core",
        description="A Faktory-compatible work server.",
        add_help=False,
        allow_abbrev=False,
    )
    add = parser.add_argument
    add(
        "-b",
        dest="binding",
        metavar="HOST:PORT",
        help=f"command binding (default {DEFAULT_BINDING}; :7419 = every interface)",
    )
    add(
        "-w",
        dest="web_binding",
        metavar="HOST:PORT",
        help=f"web UI binding (default {DEFAULT_WEB_BINDING}; :0 or off turns the UI off, "
        "host:0 picks a free port)",
    )
    add(
        "-e",
        dest="environment",
        metavar="ENV",
        help="development, staging or production (default $FAKTORY_ENV, else development)",
    )
    add("-l", dest="log_level", default="info", choices=LOG_LEVELS, help="log level (default info)")
    add("-d", dest="storage_dir", metavar="DIR", help="storage directory")
    add("-c", dest="config_dir", metavar="DIR", help="configuration directory (conf.d is in it)")
    add("-v", dest="version", action="store_true", help="print the version and exit")
    add("-h", "--help", dest="help", action="store_true", help="print this help and exit")
    add(
        "--plugin",
        dest="plugins",
        action="append",
        default=[],
        metavar="NAME",
        help="enable a plugin by its entry-point name (repeatable)",
    )
    add(
        "--no-plugin",
        dest="disabled_plugins",
        action="append",
        default=[],
        metavar="NAME",
        help="switch off a default plugin (repeatable)",
    )
    add(
        "--max-connections",
        dest="max_connections",
        metavar="N",
        help=f"connections accepted at once (default ${MAX_CONNECTIONS_VARIABLE}, else "
        "[faktory] max_connections, else 2000)",
    )
    return parser


def parse_flags(argv: Sequence[str]) -> Flags:
    """Parse Faktory's flags (reference §10.1); a bad command line raises :class:`UsageError`."""
    ns = _parser().parse_args(list(argv))
    return Flags(
        binding=ns.binding,
        web_binding=ns.web_binding,
        environment=ns.environment,
        log_level=ns.log_level,
        storage_dir=ns.storage_dir,
        config_dir=ns.config_dir,
        version=ns.version,
        help=ns.help,
        plugins=tuple(ns.plugins),
        disabled_plugins=tuple(ns.disabled_plugins),
        max_connections=ns.max_connections,
    )


def usage() -> str:
    """The ``-h`` text."""
    return _parser().format_help()


# -- conf.d --------------------------------------------------------------------------------------


@attrs.frozen(eq=False)
class ConfD:
    """The merged conf.d document, with the files read and which file defined each key."""

    directory: Path
    files: tuple[Path, ...] = ()
    document: dict[str, Any] = attrs.Factory(dict)
    #: Top-level key -> the (first) file that defined it, to name it in later errors.
    origin: dict[str, Path] = attrs.Factory(dict)

    def where(self, key: str) -> str:
        found = self.origin.get(key)
        return str(found) if found is not None else str(self.directory)


def _conf_files(folder: Path) -> list[Path]:
    try:
        names = os.listdir(folder)
    except (FileNotFoundError, NotADirectoryError):
        return []  # no conf.d is fine
    except OSError as exc:
        raise ConfigError(f"{folder}: cannot list: {exc.strerror or exc}") from None
    paths = [folder / name for name in sorted(names) if name.endswith(".toml")]
    return [path for path in paths if not path.is_dir()]


def _parse_file(path: Path) -> dict[str, Any]:
    try:
        text = path.read_bytes().decode("utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        # tomllib's message ends with "(at line L, column C)".
        raise ConfigError(f"{path}: {exc}") from None


def _is_array_of_tables(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(item, dict) for item in value)


def _describe(key: str, value: Any) -> str:
    if isinstance(value, dict):
        return f"table [{key}]"
    if _is_array_of_tables(value):
        return f"array of tables [[{key}]]"
    return f"key {key!r}"


def read_conf_d(config_dir: Path) -> ConfD:
    """Read and merge ``<config_dir>/conf.d/*.toml`` (reference §10.4).

    Each file is parsed on its own, so a syntax error names the file (and tomllib the line and
    column). Arrays of tables concatenate in file order, as Faktory's concatenation of the files
    does; any other top-level key defined in two files is an error naming both.
    """
    folder = config_dir / "conf.d"
    files = _conf_files(folder)
    merged: dict[str, Any] = {}
    origin: dict[str, Path] = {}
    for path in files:
        for key, value in _parse_file(path).items():
            if key not in merged:
                merged[key] = value
                origin[key] = path
            elif _is_array_of_tables(merged[key]) and _is_array_of_tables(value):
                merged[key] = [*merged[key], *value]
            else:
                raise ConfigError(
                    f"{_describe(key, value)} is defined in both {origin[key]} and {path} "
                    "(a table belongs to one file; only arrays of tables such as [[cron]] "
                    "may span files)"
                )
    return ConfD(directory=folder, files=tuple(files), document=merged, origin=origin)


def _table(conf: ConfD, name: str) -> Mapping[str, Any]:
    value = conf.document.get(name, {})
    if not isinstance(value, dict):
        raise ConfigError(f"{conf.where(name)}: {name} must be a table ([{name}])")
    return value


def _string(conf: ConfD, table: str, key: str) -> str | None:
    value = _table(conf, table).get(key)
    if value is not None and not isinstance(value, str):
        raise ConfigError(f"{conf.where(table)}: [{table}] {key} must be a string")
    return value


def _positive_int(conf: ConfD, table: str, key: str) -> int | None:
    value = _table(conf, table).get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{conf.where(table)}: [{table}] {key} must be a positive integer")
    return value


def _names(conf: ConfD, table: str, key: str) -> tuple[str, ...]:
    value = _table(conf, table).get(key, [])
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ConfigError(f"{conf.where(table)}: [{table}] {key} must be a list of strings")
    return tuple(value)


def _cron(conf: ConfD) -> tuple[dict[str, Any], ...]:
    value = conf.document.get("cron", [])
    if not _is_array_of_tables(value):
        raise ConfigError(f"{conf.where('cron')}: cron must be an array of tables ([[cron]])")
    return tuple(copy.deepcopy(entry) for entry in value)


# -- passwords -----------------------------------------------------------------------------------


def _skip_password(environ: Mapping[str, str]) -> bool:
    return environ.get("FAKTORY_SKIP_PASSWORD") in SKIP_VALUES


def _read_password_file(path: Path, named_by: str) -> str:
    try:
        return path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ConfigError(f"cannot read the password file {path} ({named_by}): {reason}") from None


def _given_password(
    environ: Mapping[str, str], variable: str, conf: ConfD, table: str
) -> tuple[str, str]:
    """``variable`` if set (even empty), else ``[table] password`` ("" if neither), and where
    the value came from, for error messages."""
    if variable in environ:
        return environ[variable], variable
    return _string(conf, table, "password") or "", f"[{table}] password in {conf.where(table)}"


def resolve_password(
    environ: Mapping[str, str], conf: ConfD, environment: str, config_dir: Path
) -> str:
    """The command-port password, by Faktory's rules (reference §10.3, ``fetchPassword``)."""
    password, named_by = _given_password(environ, "FAKTORY_PASSWORD", conf, "faktory")
    required = environment != "development" and not _skip_password(environ)
    if password.startswith("/"):
        password = _read_password_file(Path(password), named_by)
    elif required and not password:
        fallback = config_dir / "password"
        if fallback.exists():
            password = _read_password_file(fallback, "the config directory's password file")
    if required and not password:
        raise ConfigError(PASSWORD_REQUIRED)
    return password


def _web_password(environ: Mapping[str, str], conf: ConfD) -> str:
    """``FAKTORY_WEBUI_PASSWORD`` (set, even empty), else ``[web] password``; "" = unset."""
    password, named_by = _given_password(environ, "FAKTORY_WEBUI_PASSWORD", conf, "web")
    if password.startswith("/"):
        password = _read_password_file(Path(password), named_by)
    return password


# -- the whole thing -----------------------------------------------------------------------------


def _check_binding(binding: str, source: str) -> str:
    _, sep, port = binding.rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        raise ConfigError(f"invalid binding {binding!r} ({source}): expected host:port")
    return binding


def _binding(flag: str | None, flag_name: str, conf: ConfD, table: str, default: str) -> str:
    if flag is not None:
        return _check_binding(flag, flag_name)
    from_toml = _string(conf, table, "binding")
    if from_toml is not None:
        return _check_binding(from_toml, f"[{table}] binding in {conf.where(table)}")
    return default


def _web_binding(flag: str | None, conf: ConfD) -> str:
    """As :func:`_binding`, and ``off`` (or ``:0``, ``none``, ``false``, ``0``) turns it off."""
    given = flag if flag is not None else _string(conf, "web", "binding")
    if given is not None and given.strip().lower() in _WEB_OFF_WORDS:
        return WEB_OFF
    return _binding(flag, "-w", conf, "web", DEFAULT_WEB_BINDING)


def _max_connections(flags: Flags, environ: Mapping[str, str], conf: ConfD) -> int | None:
    """``--max-connections``, else ``$FAKTORY_MAX_CONNECTIONS``, else the TOML key."""
    for raw, source in (
        (flags.max_connections, "--max-connections"),
        (environ.get(MAX_CONNECTIONS_VARIABLE) or None, MAX_CONNECTIONS_VARIABLE),
    ):
        if raw is None:
            continue
        if not raw.strip().isdigit() or int(raw) < 1:
            raise ConfigError(f"{source} must be a positive integer, not {raw!r}")
        return int(raw)
    return _positive_int(conf, "faktory", "max_connections")


def _home(environ: Mapping[str, str]) -> Path:
    home = environ.get("HOME")
    return Path(home) if home else Path.home()


def _assemble(flags: Flags, environ: Mapping[str, str], *, boot: Config | None) -> Config:
    environment = flags.environment
    if environment is None:
        environment = environ.get("FAKTORY_ENV") or "development"
    if environment not in ENVIRONMENTS:
        raise ConfigError(
            f'Invalid environment "{environment}": legal values are development, staging or '
            "production"
        )
    dev = environment == "development"
    home = _home(environ) / ".faktory"
    storage_dir = (
        Path(flags.storage_dir)
        if flags.storage_dir is not None
        else (home / "db" if dev else SERVER_STORAGE_DIR)
    )
    config_dir = (
        Path(flags.config_dir)
        if flags.config_dir is not None
        else (home if dev else SERVER_CONFIG_DIR)
    )
    conf = read_conf_d(config_dir)
    defaults = Config()
    return Config(
        binding=_binding(flags.binding, "-b", conf, "faktory", DEFAULT_BINDING),
        web_binding=_web_binding(flags.web_binding, conf),
        environment=environment,
        log_level=flags.log_level,
        storage_dir=storage_dir,
        config_dir=config_dir,
        # On reload the command password is not read again (reference §10.3 rule 5).
        password=(
            boot.password
            if boot is not None
            else resolve_password(environ, conf, environment, config_dir)
        ),
        web_password=_web_password(environ, conf),
        max_line=_positive_int(conf, "faktory", "max_line") or defaults.max_line,
        max_connections=_max_connections(flags, environ, conf) or defaults.max_connections,
        **_limits(conf, defaults),
        plugins=tuple(dict.fromkeys((*flags.plugins, *_names(conf, "faktory", "plugins")))),
        disabled_plugins=tuple(dict.fromkeys(flags.disabled_plugins)),
        cron=_cron(conf),
        toml=freeze(conf.document),
    )


def _limits(conf: ConfD, defaults: Config) -> dict[str, Any]:
    return {k: _positive_int(conf, "faktory", k) or getattr(defaults, k) for k in LIMIT_KEYS}


def build_config(argv: Sequence[str], environ: Mapping[str, str]) -> Config:
    """The boot configuration for ``argv`` (without the program name) and ``environ``.

    Raises :class:`ConfigError` (or its :class:`UsageError`) with a message for a person.
    """
    return _assemble(parse_flags(argv), environ, boot=None)


#: Read once at boot; a reload keeps the running value (and says so if conf.d changed it).
_BOOT_ONLY = {
    "binding": "[faktory] binding",
    "web_binding": "[web] binding",
    "plugins": "[faktory] plugins",
}


def reload_config(
    running: Config, argv: Sequence[str], environ: Mapping[str, str]
) -> tuple[Config, list[str]]:
    """SIGHUP: read conf.d and the environment again with the same flags.

    Returns the new configuration and notes (one per boot-only setting that conf.d now sets
    differently, which the running server keeps until a restart). Raises :class:`ConfigError`
    when the new configuration is invalid; the caller keeps ``running``.
    """
    fresh = _assemble(parse_flags(argv), environ, boot=running)
    notes = [
        f"{where} changed to {getattr(fresh, field)!r}; it is read once at boot, "
        f"keeping {getattr(running, field)!r} until a restart"
        for field, where in _BOOT_ONLY.items()
        if getattr(fresh, field) != getattr(running, field)
    ]
    if "FAKTORY_PASSWORD" not in environ and _toml_password(fresh) != _toml_password(running):
        notes.append(
            "[faktory] password changed; the command password is read once at boot, "
            "keeping the previous one until a restart"
        )
    kept = attrs.evolve(
        fresh,
        # Timings are not read from files; keep whatever the server was started with.
        timings=running.timings,
        **{field: getattr(running, field) for field in _BOOT_ONLY},
    )
    return kept, notes


def _toml_password(config: Config) -> Any:
    table = config.toml.get("faktory")
    return table.get("password") if isinstance(table, Mapping) else None


def redacted(config: Config) -> dict[str, Any]:
    """The merged conf.d document with its passwords masked, safe to log."""
    document: dict[str, Any] = thaw(config.toml)
    for table in ("faktory", "web"):
        section = document.get(table)
        if isinstance(section, dict) and section.get("password"):
            section["password"] = MASK
    return document
