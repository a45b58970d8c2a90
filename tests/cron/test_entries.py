"""Reading ``[[cron]]`` entries: the fields, the names, identities, and a clear error for each
kind of bad entry, naming the file or variable, the entry and the field."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest

from faktory_core.config import Config
from faktory_core.plugins.cron.entries import (
    ENV_BASE64,
    ENV_TOML,
    CronConfigError,
    CronEntry,
    check_unique,
    conf_d_entries,
    entries_from_env,
    entries_from_toml,
    parse_entry,
)
from faktory_core.settings import build_config

from .support import START

SOURCE = "conf.d/cron.toml"


def entry(**raw: Any) -> CronEntry:
    return parse_entry(raw, source=SOURCE, index=1, now=START)


def problem(raw: Any, index: int = 1) -> str:
    with pytest.raises(CronConfigError) as caught:
        parse_entry(raw, source=SOURCE, index=index, now=START)
    assert len(caught.value.problems) == 1
    return caught.value.problems[0]


def test_the_reference_example() -> None:
    [found] = entries_from_toml(
        """
[[cron]]
  schedule = "*/5 * * * *"
  [cron.job]
    type = "FiveJob"
    queue = "critical"
    retry = 3
    args = []
    reserve_for = 600
    [cron.job.custom]
      foo = "bar"
      expires_in = 60
""",
        source=SOURCE,
        now=START,
    )
    assert (found.schedule, found.expression, found.timezone) == ("*/5 * * * *",) * 2 + ("UTC",)
    assert (found.jobtype, found.queue, found.retry, found.reserve_for) == (
        "FiveJob",
        "critical",
        3,
        600,
    )
    assert found.args == []
    assert found.custom == {"foo": "bar"}
    assert found.expires_in == 60
    assert found.name is None
    assert len(found.identity) == 12
    assert found.source == f"{SOURCE}: [[cron]] #1"


def test_defaults_are_those_of_a_pushed_job() -> None:
    found = entry(schedule="@daily", job={"type": "Nightly"})
    assert (found.queue, found.retry, found.reserve_for, found.args) == ("default", 25, 0, [])


@pytest.mark.parametrize(
    ("name", "expression"),
    [
        ("@hourly", "0 * * * *"),
        ("@daily", "0 0 * * *"),
        ("@midnight", "0 0 * * *"),
        ("@weekly", "0 0 * * 0"),
        ("@monthly", "0 0 1 * *"),
        ("@yearly", "0 0 1 1 *"),
        ("@annually", "0 0 1 1 *"),
        ("@HOURLY", "0 * * * *"),
    ],
)
def test_named_schedules(name: str, expression: str) -> None:
    found = entry(schedule=name, job={"type": "T"})
    assert (found.schedule, found.expression) == (name, expression)


def test_the_identity_is_the_name_or_a_stable_hash() -> None:
    job = {"type": "T", "args": [1]}
    assert entry(name="reports", schedule="@daily", job=job).identity == "reports"
    same = entry(schedule="@daily", job=job).identity
    assert entry(schedule=" @daily ", job={"args": [1], "type": "T"}).identity == same
    # Defaults written out are the same job; another schedule, zone or job is another entry.
    assert entry(schedule="@daily", job={**job, "queue": "default", "retry": 25}).identity == same
    assert entry(schedule="@daily", job=job, timezone="UTC").identity == same
    assert entry(schedule="@hourly", job=job).identity != same
    assert entry(schedule="@daily", job=job, timezone="Europe/Berlin").identity != same
    assert entry(schedule="@daily", job={**job, "args": [2]}).identity != same
    # Pinned: a stored pause or claim must survive upgrades, so the hash must not drift.
    assert same == "65ef33b98973"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({"job": {"type": "T"}}, "schedule: is missing"),
        ({"schedule": 5, "job": {"type": "T"}}, "schedule: must be a string"),
        ({"schedule": "* * * *", "job": {"type": "T"}}, "schedule: '* * * *' has 4 fields"),
        ({"schedule": "0 * * * * *", "job": {"type": "T"}}, "has 6 fields; expected 5"),
        ({"schedule": "61 * * * *", "job": {"type": "T"}}, "schedule: '61 * * * *' is not a valid"),
        ({"schedule": "@every 5m", "job": {"type": "T"}}, "schedule: unknown name '@every 5m'"),
        ({"schedule": "H * * * *", "job": {"type": "T"}}, "hashed (H) and random (R) fields"),
        ({"schedule": "R * * * *", "job": {"type": "T"}}, "hashed (H) and random (R) fields"),
        ({"schedule": "0 0 30 2 *", "job": {"type": "T"}}, "schedule: '0 0 30 2 *' is not"),
        ({"schedule": "@daily"}, "job: is missing"),
        ({"schedule": "@daily", "job": {}}, "job.type: is missing or empty"),
        ({"schedule": "@daily", "job": {"type": ""}}, "job.type: is missing or empty"),
        ({"schedule": "@daily", "job": {"type": "T", "queue": "a b"}}, "job.queue: 'a b' is not"),
        ({"schedule": "@daily", "job": {"type": "T", "retry": "3"}}, "job.retry: must be an int"),
        ({"schedule": "@daily", "job": {"type": "T", "retry": True}}, "job.retry: must be an int"),
        ({"schedule": "@daily", "job": {"type": "T", "args": "x"}}, "job.args: must be an array"),
        ({"schedule": "@daily", "job": {"type": "T", "reserve_for": 86401}}, "job.reserve_for"),
        ({"schedule": "@daily", "job": {"type": "T", "custom": []}}, "job.custom: must be a table"),
        (
            {"schedule": "@daily", "job": {"type": "T", "custom": {"expires_in": -1}}},
            "job.custom.expires_in: must be a positive number",
        ),
        ({"schedule": "@daily", "job": {"type": "T", "qeue": "x"}}, "job.qeue: unknown key"),
        ({"schedule": "@daily", "jobs": {"type": "T"}}, "jobs: unknown key"),
        ({"schedule": "@daily", "name": "", "job": {"type": "T"}}, "name: must be 1 to 100"),
        ({"schedule": "@daily", "name": 7, "job": {"type": "T"}}, "name: must be a string"),
        (
            {"schedule": "@daily", "timezone": "Mars/Olympus", "job": {"type": "T"}},
            "timezone: unknown time zone 'Mars/Olympus'",
        ),
        ({"schedule": "@daily", "timezone": "../etc", "job": {"type": "T"}}, "timezone: unknown"),
    ],
)
def test_a_bad_entry_names_the_file_entry_and_field(raw: dict[str, Any], expected: str) -> None:
    message = problem(raw, index=3)
    assert message.startswith(f"{SOURCE}: [[cron]] #3")
    assert expected in message


def test_the_entry_is_named_by_its_name_when_it_has_one() -> None:
    message = problem({"name": "nightly", "schedule": "@daily", "job": {"type": 3}}, index=2)
    assert message == (
        f'{SOURCE}: [[cron]] #2 "nightly": job.type: is missing or empty (the job type workers run)'
    )


def test_toml_dates_are_refused_in_args_and_custom() -> None:
    found = entries_with_problems(
        """
[[cron]]
schedule = "@daily"
job = { type = "T", args = [1979-05-27] }

[[cron]]
schedule = "@daily"
job = { type = "T", custom = { at = 07:32:00 } }
"""
    )
    assert found == [
        f"{SOURCE}: [[cron]] #1: job.args[0]: a TOML date or time is not JSON; "
        "write it as a string",
        f"{SOURCE}: [[cron]] #2: job.custom.at: a TOML date or time is not JSON; "
        "write it as a string",
    ]


def entries_with_problems(text: str) -> list[str]:
    with pytest.raises(CronConfigError) as caught:
        entries_from_toml(text, source=SOURCE, now=START)
    return list(caught.value.problems)


def test_every_problem_is_reported_at_once() -> None:
    found = entries_with_problems(
        """
[[cron]]
schedule = "* * *"
job = { type = "A" }

[[cron]]
schedule = "@daily"
job = { type = "B" }

[[cron]]
name = "c"
schedule = "@daily"
job = { queue = "x" }
"""
    )
    assert [line.split(": ")[1] for line in found] == ["[[cron]] #1", '[[cron]] #3 "c"']
    message = str(CronConfigError(found))
    assert message.startswith(
        "bad cron schedule (2 problems):\n  conf.d/cron.toml: [[cron]] #1: schedule:"
    )


def test_not_toml_or_not_only_cron() -> None:
    assert entries_with_problems("[[cron]\n")[0].startswith(f"{SOURCE}: not valid TOML: ")
    assert entries_with_problems('[faktory]\nbinding = ":7419"\n') == [
        f"{SOURCE}: only [[cron]] tables belong here; found: faktory"
    ]
    assert entries_with_problems("cron = 5\n") == [
        f"{SOURCE}: cron must be an array of tables ([[cron]])"
    ]


def test_duplicate_identities_are_refused() -> None:
    twice = {"schedule": "@daily", "job": {"type": "T"}}
    a = parse_entry(twice, source="a.toml", index=1, now=START)
    b = parse_entry(twice, source="b.toml", index=4, now=START)
    with pytest.raises(CronConfigError) as caught:
        check_unique([a, b])
    assert caught.value.problems == (
        "b.toml: [[cron]] #4: name: it has the same schedule and job as a.toml: [[cron]] #1; "
        "give one a name",
    )
    named = [
        parse_entry({**twice, "name": "n"}, source="a.toml", index=1, now=START),
        parse_entry(
            {"name": "n", "schedule": "@hourly", "job": {"type": "U"}},
            source="b.toml",
            index=2,
            now=START,
        ),
    ]
    with pytest.raises(CronConfigError, match=r"b.toml: \[\[cron\]\] #2 \"n\": name: the name "):
        check_unique(named)


# -- the environment ------------------------------------------------------------------------------

CRON_TOML = """
[[cron]]
name = "from-env"
schedule = "@hourly"
[cron.job]
type = "EnvJob"
"""


def test_entries_from_the_plain_variable() -> None:
    [found] = entries_from_env({ENV_TOML: CRON_TOML}, now=START)
    assert (found.name, found.jobtype, found.source) == (
        "from-env",
        "EnvJob",
        f'{ENV_TOML}: [[cron]] #1 "from-env"',
    )


def test_entries_from_the_base64_variable() -> None:
    packed = base64.b64encode(CRON_TOML.encode()).decode()
    wrapped = "\n".join(packed[i : i + 20] for i in range(0, len(packed), 20))  # line breaks ok
    [found] = entries_from_env({ENV_BASE64: wrapped}, now=START)
    assert (found.name, found.source) == ("from-env", f'{ENV_BASE64}: [[cron]] #1 "from-env"')


def test_no_variable_no_entries() -> None:
    assert entries_from_env({}, now=START) == []


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({ENV_TOML: "x", ENV_BASE64: "eA=="}, f"{ENV_TOML} and {ENV_BASE64} are both set"),
        ({ENV_BASE64: "not base64!"}, f"{ENV_BASE64}: not valid base64"),
        ({ENV_BASE64: base64.b64encode(b"\xff\xfe").decode()}, f"{ENV_BASE64}: the decoded"),
        ({ENV_TOML: "[[cron]]\nschedule = 1\n"}, f"{ENV_TOML}: [[cron]] #1: schedule: must be"),
        ({ENV_TOML: "[[cron"}, f"{ENV_TOML}: not valid TOML"),
    ],
)
def test_bad_variables_are_named(environ: dict[str, str], expected: str) -> None:
    with pytest.raises(CronConfigError) as caught:
        entries_from_env(environ, now=START)
    assert caught.value.problems[0].startswith(expected)


# -- conf.d: naming the file ----------------------------------------------------------------------


def write_conf_d(folder: Path, files: dict[str, str]) -> Config:
    (folder / "conf.d").mkdir(parents=True)
    for name, text in files.items():
        (folder / "conf.d" / name).write_text(text)
    return build_config(["-c", str(folder)], {"HOME": str(folder)})


def test_conf_d_entries_are_named_by_their_file(tmp_path: Path) -> None:
    good = '[[cron]]\nschedule = "@daily"\njob = { type = "A" }\n'
    bad = '[[cron]]\nschedule = "@daily"\njob = { type = "B" }\n\n[[cron]]\nschedule = "@daily"\n'
    config = write_conf_d(tmp_path, {"a.toml": good, "b.toml": bad})
    with pytest.raises(CronConfigError) as caught:
        conf_d_entries(config, now=START)
    assert caught.value.problems == (
        f"{tmp_path}/conf.d/b.toml: [[cron]] #2: job: is missing "
        "(a [cron.job] table with at least type)",
    )


def test_conf_d_sources_when_the_files_changed_since(tmp_path: Path) -> None:
    config = write_conf_d(tmp_path, {"a.toml": '[[cron]]\nschedule = "@daily"\n'})
    (tmp_path / "conf.d" / "a.toml").write_text("# emptied after the config was read\n")
    with pytest.raises(CronConfigError) as caught:
        conf_d_entries(config, now=START)
    assert caught.value.problems[0].startswith(f"{tmp_path}/conf.d: [[cron]] #1: job: is missing")
