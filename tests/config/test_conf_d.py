"""conf.d: alphabetical order, each file parsed alone, [[cron]] merged, tables in one file."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from faktory_core.config import thaw
from faktory_core.settings import ConfigError, build_config, read_conf_d

WriteConf = Callable[[str, str], Path]

# Faktory's own fixture shape (cli/test-fixtures/case-one): the first file has no trailing
# newline, which its concatenation has to survive.
CRON = '[[cron]]\n  schedule = "*/5 * * * *"\n  [cron.job]\n    type = "{}"\n    queue = "critical"'
CRON_A = CRON.format("OneJob")
CRON_B = CRON.format("TwoJob") + "\n"


def test_missing_conf_d_is_fine(environ: dict[str, str], tmp_path: Path) -> None:
    config = build_config(["-c", str(tmp_path / "no-such-dir")], environ)
    assert config.cron == ()
    assert dict(config.toml) == {}


def test_empty_conf_d_is_fine(environ: dict[str, str], conf: Path) -> None:
    assert read_conf_d(conf).files == ()


def test_cron_tables_from_two_files_are_merged(
    environ: dict[str, str], conf: Path, write_conf: WriteConf
) -> None:
    assert not CRON_A.endswith("\n")
    write_conf("a.toml", CRON_A)
    write_conf("b.toml", CRON_B)
    config = build_config(["-c", str(conf)], environ)
    assert [entry["job"]["type"] for entry in config.cron] == ["OneJob", "TwoJob"]
    assert config.cron[0] == {
        "schedule": "*/5 * * * *",
        "job": {"type": "OneJob", "queue": "critical"},
    }
    assert [entry["job"]["type"] for entry in config.toml["cron"]] == ["OneJob", "TwoJob"]


def test_files_are_read_in_alphabetical_order(
    environ: dict[str, str], conf: Path, write_conf: WriteConf
) -> None:
    for name in ("b.toml", "10-first.toml", "a.toml"):
        write_conf(name, f'[[cron]]\nname = "{name}"\n')
    config = build_config(["-c", str(conf)], environ)
    assert [entry["name"] for entry in config.cron] == ["10-first.toml", "a.toml", "b.toml"]
    assert [path.name for path in read_conf_d(conf).files] == [
        "10-first.toml",
        "a.toml",
        "b.toml",
    ]


def test_only_toml_files_are_read(
    environ: dict[str, str], conf: Path, write_conf: WriteConf
) -> None:
    write_conf("a.toml", "[faktory]\n")
    write_conf("b.toml.bak", "[faktory]\nnot toml at all")
    write_conf("README", "hello")
    (conf / "conf.d" / "dir.toml").mkdir()
    assert [path.name for path in read_conf_d(conf).files] == ["a.toml"]
    build_config(["-c", str(conf)], environ)


def test_different_tables_in_different_files(
    environ: dict[str, str], conf: Path, write_conf: WriteConf
) -> None:
    write_conf("faktory.toml", '[faktory]\nbinding = ":17419"\n')
    write_conf("web.toml", '[web]\nbinding = ":17420"\n')
    write_conf("statsd.toml", '[statsd]\nnamespace = "faktory."\n')
    config = build_config(["-c", str(conf)], environ)
    assert (config.binding, config.web_binding) == (":17419", ":17420")
    assert config.toml["statsd"]["namespace"] == "faktory."


def test_a_table_in_two_files_is_an_error_naming_both(
    environ: dict[str, str], conf: Path, write_conf: WriteConf
) -> None:
    first = write_conf("a.toml", '[faktory]\nbinding = ":1"\n')
    write_conf("b.toml", "[[cron]]\n")
    second = write_conf("c.toml", '[faktory]\npassword = "x"\n')
    with pytest.raises(ConfigError) as caught:
        build_config(["-c", str(conf)], environ)
    assert str(caught.value).startswith(f"table [faktory] is defined in both {first} and {second}")


def test_a_table_and_an_array_of_tables_conflict(
    environ: dict[str, str], conf: Path, write_conf: WriteConf
) -> None:
    first = write_conf("a.toml", "[[cron]]\n")
    second = write_conf("b.toml", "[cron]\nschedule = 1\n")
    with pytest.raises(ConfigError, match=re.escape(f"defined in both {first} and {second}")):
        build_config(["-c", str(conf)], environ)


def test_cron_must_be_an_array_of_tables(
    environ: dict[str, str], conf: Path, write_conf: WriteConf
) -> None:
    write_conf("a.toml", '[cron]\nschedule = "* * * * *"\n')
    with pytest.raises(ConfigError, match=r"a\.toml: cron must be an array of tables"):
        build_config(["-c", str(conf)], environ)


def test_a_syntax_error_names_the_file_and_line(
    environ: dict[str, str], conf: Path, write_conf: WriteConf
) -> None:
    write_conf("a.toml", "[faktory]\n")
    bad = write_conf("b.toml", '[[cron]]\nschedule = "* * * * *"\nqueue = \n')
    with pytest.raises(ConfigError) as caught:
        build_config(["-c", str(conf)], environ)
    message = str(caught.value)
    assert message.startswith(f"{bad}: ")
    assert "line 3" in message


def test_a_duplicate_key_inside_one_file_names_it(
    environ: dict[str, str], conf: Path, write_conf: WriteConf
) -> None:
    bad = write_conf("a.toml", "[faktory]\n[web]\n[faktory]\n")
    with pytest.raises(ConfigError, match=rf"^{re.escape(str(bad))}: .*line 3"):
        build_config(["-c", str(conf)], environ)


def test_a_file_that_is_not_utf8_names_it(
    environ: dict[str, str], conf: Path, write_conf: WriteConf
) -> None:
    bad = write_conf("a.toml", "")
    bad.write_bytes(b'x = "\xff"\n')
    with pytest.raises(ConfigError, match=rf"^{re.escape(str(bad))}: not UTF-8"):
        build_config(["-c", str(conf)], environ)


def test_toml_is_a_read_only_view_of_the_merged_document(
    environ: dict[str, str], conf: Path, write_conf: WriteConf
) -> None:
    write_conf("a.toml", CRON_A)
    write_conf("z.toml", '[throttles]\nqueues = ["a", "b"]\n[throttles.limits]\nbulk = 5\n')
    config = build_config(["-c", str(conf)], environ)
    with pytest.raises(TypeError):
        config.toml["x"] = 1  # type: ignore[index]
    with pytest.raises(TypeError):
        config.toml["throttles"]["limits"]["bulk"] = 6
    assert config.toml["throttles"]["queues"] == ("a", "b")
    plain = thaw(config.toml)
    assert plain["throttles"] == {"queues": ["a", "b"], "limits": {"bulk": 5}}
    json.dumps(plain)  # plugins can serialise what they read
    json.dumps(config.cron)  # cron tables are plain, JSON-ready dicts


def test_cron_tables_are_copies(environ: dict[str, str], conf: Path, write_conf: WriteConf) -> None:
    write_conf("a.toml", CRON_A)
    config = build_config(["-c", str(conf)], environ)
    config.cron[0]["job"]["type"] = "Changed"
    assert config.toml["cron"][0]["job"]["type"] == "OneJob"
