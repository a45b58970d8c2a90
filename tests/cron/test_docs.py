"""docs/cron.md is true: its TOML examples are valid schedules, and the ``cron check`` output and
the start-up error it shows are what the code prints."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest

from faktory_core.plugins.cron.cli import run
from faktory_core.plugins.cron.entries import (
    ENV_TOML,
    CronConfigError,
    entries_from_toml,
    parse_entry,
)

from .support import START

DOC = Path(__file__).resolve().parents[2] / "docs" / "cron.md"


def blocks(language: str) -> list[str]:
    text = DOC.read_text(encoding="utf-8")
    return re.findall(rf"^```{language}[ \t]*\n(.*?)^```[ \t]*$", text, re.M | re.S)


def test_there_are_toml_examples() -> None:
    assert len(blocks("toml")) >= 2


@pytest.mark.parametrize("number", range(len(blocks("toml"))))
def test_every_toml_example_is_a_valid_schedule(number: int) -> None:
    entries = entries_from_toml(blocks("toml")[number], source=f"{DOC}#{number}", now=START)
    assert entries


def test_the_check_example_is_what_check_prints(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    [check, _] = blocks("console")
    command, *output = check.splitlines(keepends=True)
    assert command.startswith("$ faktory-core cron ")
    argv = command.removeprefix("$ faktory-core cron ").split()
    (tmp_path / "cron.toml").write_text(blocks("toml")[0])
    monkeypatch.chdir(tmp_path)
    out = io.StringIO()
    assert run(argv, environ={}, stdout=out, stderr=io.StringIO()) == 0
    assert out.getvalue() == "".join(output)


def test_the_error_example_is_what_the_plugin_says() -> None:
    [shown] = blocks("text")
    log_line, *rest = shown.splitlines()
    prefix = re.match(r"E \S+ cannot start: ", log_line)
    assert prefix is not None
    nightly = {"name": "nightly", "schedule": "@daily", "job": {"type": "T", "queue": "a b"}}
    problems: list[str] = []
    for raw, source, index in [
        (nightly, "/etc/faktory/conf.d/cron.toml", 2),
        ({"schedule": "* * *", "job": {"type": "T"}}, ENV_TOML, 1),
    ]:
        with pytest.raises(CronConfigError) as caught:
            parse_entry(raw, source=source, index=index, now=START)
        problems.extend(caught.value.problems)
    assert str(CronConfigError(problems)) == "\n".join([log_line[prefix.end() :], *rest])


def test_the_encode_example_names_real_commands() -> None:
    [_, encode] = blocks("console")
    assert "faktory-core cron encode cron.toml" in encode
    assert "faktory-core cron decode" in encode
