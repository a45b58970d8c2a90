"""``faktory-core cron check|encode|decode`` (``faktory_core.plugins.cron.cli.run``)."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import pytest

from faktory_core.plugins.cron.cli import run
from faktory_core.plugins.cron.entries import ENV_BASE64, ENV_TOML

CRON_TOML = """\
[[cron]]
  name = "reports"
  schedule = "30 2 * * 1-5"
  timezone = "Europe/Berlin"
  [cron.job]
    type = "Reports"
    queue = "critical"
    args = [1, "two"]
    [cron.job.custom]
      expires_in = 600

[[cron]]
  schedule = "@hourly"
  [cron.job]
    type = "Hourly"
"""
AFTER = "2025-03-28T12:00:00Z"  # a Friday; Europe/Berlin moves to summer time on the 30th


class Result:
    def __init__(self, code: int, out: str, err: str) -> None:
        self.code, self.out, self.err = code, out, err


def cron(*argv: str, stdin: str = "", environ: dict[str, str] | None = None) -> Result:
    out, err = io.StringIO(), io.StringIO()
    code = run(argv, environ=environ or {}, stdin=io.StringIO(stdin), stdout=out, stderr=err)
    return Result(code, out.getvalue(), err.getvalue())


@pytest.fixture
def cron_file(tmp_path: Path) -> Path:
    path = tmp_path / "cron.toml"
    path.write_text(CRON_TOML)
    return path


def test_check_prints_each_entry_with_its_next_five_runs(cron_file: Path) -> None:
    done = cron("check", str(cron_file), "--after", AFTER)
    assert (done.code, done.err) == (0, "")
    assert (
        done.out
        == f"""\
{cron_file}: [[cron]] #1 "reports"
  identity: reports
  schedule: 30 2 * * 1-5 (every Monday to Friday at 02:30), time zone Europe/Berlin
  job:      Reports, queue critical, retry 25, args [1, "two"], custom {{"expires_in": 600}}
  next:     Mon 2025-03-31 02:30 CEST (+0200)
            Tue 2025-04-01 02:30 CEST (+0200)
            Wed 2025-04-02 02:30 CEST (+0200)
            Thu 2025-04-03 02:30 CEST (+0200)
            Fri 2025-04-04 02:30 CEST (+0200)

{cron_file}: [[cron]] #2
  identity: 97c8e08c5e23
  schedule: @hourly (every hour, on the hour), time zone UTC
  job:      Hourly, queue default, retry 25, args []
  next:     Fri 2025-03-28 13:00 UTC (+0000)
            Fri 2025-03-28 14:00 UTC (+0000)
            Fri 2025-03-28 15:00 UTC (+0000)
            Fri 2025-03-28 16:00 UTC (+0000)
            Fri 2025-03-28 17:00 UTC (+0000)

2 cron entries, all valid
"""
    )


def test_check_reports_every_problem_with_file_entry_and_field(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[[cron]]\nname = "x"\nschedule = "@daily"\njob = { type = "T", retry = "3" }\n')
    other = tmp_path / "other.toml"
    other.write_text('[[cron]]\nschedule = "61 * * * *"\njob = { type = "T" }\n')
    done = cron("check", str(bad), str(other))
    assert (done.code, done.out) == (1, "")
    assert done.err.splitlines() == [
        "faktory-core cron: bad cron schedule (2 problems):",
        f'  {bad}: [[cron]] #1 "x": job.retry: must be an integer (retries before the dead set)',
        f"  {other}: [[cron]] #1: schedule: '61 * * * *' is not a valid crontab expression: "
        "[61 * * * *] is not acceptable, out of range",
    ]


def test_check_refuses_duplicates_across_files(cron_file: Path, tmp_path: Path) -> None:
    again = tmp_path / "again.toml"
    again.write_text(CRON_TOML)
    done = cron("check", str(cron_file), str(again))
    assert done.code == 1
    assert f"{again}: [[cron]] #1 \"reports\": name: the name 'reports' is also used by" in done.err


def test_check_reads_stdin(cron_file: Path) -> None:
    done = cron("check", "-", "--after", AFTER, stdin=CRON_TOML)
    assert done.code == 0
    assert done.out.startswith('<stdin>: [[cron]] #1 "reports"\n')


def test_check_without_files_reads_what_the_server_would(tmp_path: Path) -> None:
    (tmp_path / "conf.d").mkdir()
    (tmp_path / "conf.d" / "cron.toml").write_text(CRON_TOML)
    env_toml = '[[cron]]\nname = "env"\nschedule = "@daily"\njob = { type = "E" }\n'
    environ = {ENV_BASE64: base64.b64encode(env_toml.encode()).decode()}
    done = cron("check", "-c", str(tmp_path), "--after", AFTER, environ=environ)
    assert done.code == 0, done.err
    sources = [line for line in done.out.splitlines() if ": [[cron]] #" in line]
    conf_file = tmp_path / "conf.d" / "cron.toml"
    assert sources == [
        f'{conf_file}: [[cron]] #1 "reports"',
        f"{conf_file}: [[cron]] #2",
        f'{ENV_BASE64}: [[cron]] #1 "env"',
    ]


def test_check_without_files_uses_the_default_config_dir(tmp_path: Path) -> None:
    done = cron("check", environ={"HOME": str(tmp_path)})
    assert (done.code, done.out) == (
        0,
        f"no [[cron]] entries in {tmp_path}/.faktory/conf.d and the FAKTORY_CRON_TOML variables\n",
    )
    done = cron("check", environ={"HOME": str(tmp_path), ENV_TOML: "[[cron]]\n"})
    assert done.code == 1
    assert f"{ENV_TOML}: [[cron]] #1: schedule: is missing" in done.err


def test_check_names_a_conf_d_syntax_error(tmp_path: Path) -> None:
    (tmp_path / "conf.d").mkdir()
    broken = tmp_path / "conf.d" / "cron.toml"
    broken.write_text("[[cron]\n")
    done = cron("check", "-c", str(tmp_path))
    assert done.code == 1
    assert f"  {broken}: " in done.err


def test_encode_then_decode_round_trips(cron_file: Path) -> None:
    encoded = cron("encode", str(cron_file))
    assert (encoded.code, encoded.err) == (0, "")
    packed = encoded.out.strip()
    assert "\n" not in packed
    assert base64.b64decode(packed).decode() == CRON_TOML
    from_arg = cron("decode", packed)
    from_stdin = cron("decode", stdin=encoded.out)
    assert from_arg.code == from_stdin.code == 0
    assert from_arg.out == from_stdin.out == CRON_TOML


def test_encode_refuses_a_bad_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[[cron]]\nschedule = "@often"\njob = { type = "T" }\n')
    done = cron("encode", str(bad))
    assert (done.code, done.out) == (1, "")
    assert f"{bad}: [[cron]] #1: schedule: unknown name '@often'" in done.err
    assert cron("encode", str(tmp_path / "missing.toml")).err.endswith(
        "missing.toml: cannot read: No such file or directory\n"
    )


def test_decode_reports_bad_input() -> None:
    done = cron("decode", "not base64!")
    assert done.code == 1
    assert done.err.startswith("faktory-core cron: bad cron schedule:\n  TEXT:")
    # Valid base64 of a bad schedule: printed (to fix it) and reported.
    packed = base64.b64encode(b'[[cron]]\nschedule = "x"\n').decode()
    done = cron("decode", packed)
    assert (done.code, done.out) == (1, '[[cron]]\nschedule = "x"\n')
    assert "the decoded TOML: [[cron]] #1: schedule:" in done.err


@pytest.mark.parametrize(
    "argv",
    [[], ["bogus"], ["encode"], ["check", "--after", "yesterday"], ["check", "-c", "d", "f"]],
)
def test_usage_errors_exit_2(argv: list[str]) -> None:
    done = cron(*argv)
    assert done.code == 2
    assert done.err.startswith("faktory-core cron: ")
    assert done.err.endswith("(see faktory-core cron -h)\n")


def test_help_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert cron("-h").code == 0
    assert "check" in capsys.readouterr().out
