"""The command line edge: -v/-h, errors as one line on stderr, the log format, reload()."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator
from io import StringIO
from pathlib import Path

import attrs
import pytest

from faktory_core import FAKTORY_VERSION, __version__, cli
from faktory_core.config import Config
from faktory_core.logs import format_line, setup_logging
from faktory_core.settings import build_config

WriteConf = Callable[[str, str], Path]

LINE = re.compile(r"^([DIWEF]) (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z) (.*)$")


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("FAKTORY_ENV", "FAKTORY_PASSWORD", "FAKTORY_SKIP_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))


@pytest.fixture
def restore_logging() -> Iterator[None]:
    logger = logging.getLogger("faktory_core")
    saved = (logger.handlers[:], logger.level, logger.propagate)
    yield
    logger.handlers[:], logger.level, logger.propagate = saved


def test_v_prints_the_version_and_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["-v"]) == 0
    out, err = capsys.readouterr()
    assert out == f"faktory-core {__version__} (Faktory {FAKTORY_VERSION} protocol)\n"
    assert err == ""


def test_v_wins_over_a_bad_configuration(
    capsys: pytest.CaptureFixture[str], clean_env: None
) -> None:
    assert cli.main(["-v", "-e", "bogus"]) == 0
    assert capsys.readouterr().out.startswith("faktory-core ")


def test_h_prints_help_and_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["-h"]) == 0
    out = capsys.readouterr().out
    for flag in ("-b", "-w", "-e", "-l", "-d", "-c", "-v", "--plugin", "--no-plugin"):
        assert flag in out


def test_invalid_environment_is_one_line_and_exit_1(
    capsys: pytest.CaptureFixture[str], clean_env: None
) -> None:
    assert cli.main(["-e", "qa"]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err == (
        'faktory-core: Invalid environment "qa": legal values are development, staging or '
        "production\n"
    )


def test_missing_password_is_one_line_and_exit_1(
    capsys: pytest.CaptureFixture[str], clean_env: None, conf: Path
) -> None:
    assert cli.main(["-e", "production", "-c", str(conf)]) == 1
    err = capsys.readouterr().err
    assert err == (
        "faktory-core: faktory requires a password to be set in staging or production, "
        "see the Security wiki page\n"
    )


def test_bad_conf_d_file_is_one_line_and_exit_1(
    capsys: pytest.CaptureFixture[str], clean_env: None, conf: Path, write_conf: WriteConf
) -> None:
    bad = write_conf("bad.toml", "[faktory\n")
    assert cli.main(["-c", str(conf)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"faktory-core: {bad}: ")
    assert "line 1" in err
    assert "Traceback" not in err
    assert err.count("\n") == 1


@pytest.mark.parametrize("argv", [["-x"], ["-l", "trace"], ["-b"], ["extra"]])
def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("faktory-core: ")
    assert err.endswith("(see faktory-core -h)\n")


# -- logging ----------------------------------------------------------------------------------


def _record(level: int, message: str, created: float, msecs: float) -> logging.LogRecord:
    record = logging.LogRecord("faktory_core.x", level, __file__, 1, message, (), None)
    record.created = created
    record.msecs = msecs
    return record


@pytest.mark.parametrize(
    ("level", "letter"),
    [
        (logging.DEBUG, "D"),
        (logging.INFO, "I"),
        (logging.WARNING, "W"),
        (logging.ERROR, "E"),
        (logging.CRITICAL, "F"),
    ],
)
def test_log_line_format(level: int, letter: str) -> None:
    # 2006-01-02T15:04:05.123Z, Go's reference time, in UTC whatever the local zone.
    line = format_line(_record(level, "hello world", 1136214245.123, 123.0))
    assert line == f"{letter} 2006-01-02T15:04:05.123Z hello world"


@pytest.mark.usefixtures("restore_logging")
@pytest.mark.parametrize(
    ("level", "shown"),
    [
        ("error", ["E"]),
        ("warn", ["W", "E"]),
        ("info", ["I", "W", "E"]),
        ("debug", ["D", "I", "W", "E"]),
    ],
)
def test_l_sets_what_is_logged(level: str, shown: list[str]) -> None:
    stream = StringIO()
    setup_logging(level, stream)
    log = logging.getLogger("faktory_core.test")
    log.debug("d")
    log.info("i")
    log.warning("w")
    log.error("e")
    lines = stream.getvalue().splitlines()
    assert [LINE.match(line).group(1) for line in lines] == shown  # type: ignore[union-attr]


# -- reload (the SIGHUP handler, in process) ---------------------------------------------------


@attrs.define
class FakeServer:
    config: Config
    reloaded: list[Config] = attrs.Factory(list)

    async def reload(self, config: Config) -> None:
        self.reloaded.append(config)
        self.config = config


async def test_reload_applies_a_good_configuration(
    environ: dict[str, str], conf: Path, write_conf: WriteConf, caplog: pytest.LogCaptureFixture
) -> None:
    argv = ["-c", str(conf)]
    server = FakeServer(build_config(argv, environ))
    write_conf("web.toml", '[web]\npassword = "new"\n')
    caplog.set_level(logging.INFO, "faktory_core")
    assert await cli.reload(server, argv, environ) is True  # type: ignore[arg-type]
    assert [config.web_password for config in server.reloaded] == ["new"]
    assert "configuration reloaded from" in caplog.text


async def test_reload_keeps_the_old_configuration_when_a_file_is_bad(
    environ: dict[str, str], conf: Path, write_conf: WriteConf, caplog: pytest.LogCaptureFixture
) -> None:
    argv = ["-c", str(conf)]
    boot = build_config(argv, environ)
    server = FakeServer(boot)
    bad = write_conf("bad.toml", "x = [\n")
    caplog.set_level(logging.INFO, "faktory_core")
    assert await cli.reload(server, argv, environ) is False  # type: ignore[arg-type]
    assert server.reloaded == []
    assert server.config is boot
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1
    assert str(bad) in errors[0].getMessage()
    assert "keeping the previous one" in errors[0].getMessage()


async def test_reload_warns_about_boot_only_changes(
    environ: dict[str, str], conf: Path, write_conf: WriteConf, caplog: pytest.LogCaptureFixture
) -> None:
    argv = ["-c", str(conf)]
    server = FakeServer(build_config(argv, environ))
    write_conf("a.toml", '[faktory]\nbinding = ":9"\n')
    caplog.set_level(logging.INFO, "faktory_core")
    assert await cli.reload(server, argv, environ) is True  # type: ignore[arg-type]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [
        "[faktory] binding changed to ':9'; it is read once at boot, keeping "
        "'localhost:7419' until a restart"
    ]
    assert server.config.binding == "localhost:7419"


@pytest.mark.usefixtures("restore_logging")
def test_a_traceback_cannot_forge_a_log_line() -> None:
    """An exception message carrying a client's text: every traceback line is indented and
    printable, so none looks like a record of its own."""
    stream = StringIO()
    setup_logging("info", stream)
    log = logging.getLogger("faktory_core.test")
    try:
        raise ValueError("bad\nE 2026-01-01T00:00:00.000Z FORGED\x00")
    except ValueError:
        log.exception("failed")
    first, *rest = stream.getvalue().splitlines()
    assert LINE.match(first)
    assert rest
    assert all(line.startswith("    ") for line in rest), rest
    assert "    E 2026-01-01T00:00:00.000Z FORGED\\x00" in rest
