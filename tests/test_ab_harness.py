"""benchmarks/ab.py: which sides a command line makes, and what it reads from Faktory's load tool.

The runs themselves need a Faktory binary built outside the repository; docs/performance.md
has the command and its results.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


@pytest.fixture(scope="module")
def ab() -> Iterator[ModuleType]:
    """benchmarks/ab.py, imported as the script imports its neighbours (top-level names)."""
    sys.path.insert(0, str(BENCHMARKS))
    try:
        import ab as module

        yield module
    finally:
        sys.path.remove(str(BENCHMARKS))


def test_sides_keep_the_command_line_order_and_their_own_plugins(ab: ModuleType) -> None:
    args = ab.parse_args(
        [
            "--side", "memory=/v/bin/python",
            "--faktory-side", "go=/b/faktory",
            "--side", "redis=/v/bin/python",
            "--side-plugin", "redis=redis_store",
            "--side-plugin", "redis=batch",
            "--redis-server", "/r/valkey-server",
            "--out", "/tmp/out",
            "--", "push", "-n", "100",
        ]
    )  # fmt: skip
    assert args.sides == [
        ab.Side("memory", ab.CORE, "/v/bin/python"),
        ab.Side("go", ab.FAKTORY, "/b/faktory"),
        ab.Side("redis", ab.CORE, "/v/bin/python", ("redis_store", "batch")),
    ]
    assert args.loadgen == ["push", "-n", "100"]
    assert args.redis_server == Path("/r/valkey-server")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--out", "o", "--", "push"], "at least one --side"),
        (["--side", "a=p", "--side", "a=q", "--out", "o", "--", "push"], "must differ"),
        (["--side", "a", "--out", "o", "--", "push"], "is not NAME=VALUE"),
        (
            ["--side", "a=p", "--side-plugin", "b=redis_store", "--out", "o", "--", "push"],
            "no faktory-core side",
        ),
        (["--faktory-side", "f=bin", "--out", "o", "--", "push"], "needs --redis-server"),
        (["--side", "a=p", "--out", "o"], "loadgen.py's arguments"),
        (["--side", "a=p", "--load-tool", "t", "--out", "o", "--", "push"], "no loadgen"),
        (["--side", "a=p", "--rounds", "0", "--out", "o", "--", "push"], "must be positive"),
    ],
)
def test_bad_command_lines_are_refused_with_the_reason(
    ab: ModuleType,
    argv: list[str],
    message: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("FAKTORY_REDIS_SERVER", raising=False)
    with pytest.raises(SystemExit) as exited:
        ab.parse_args(argv)
    assert exited.value.code == 2
    assert message in capsys.readouterr().err


def test_a_faktory_side_takes_the_redis_server_from_the_environment(
    ab: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKTORY_REDIS_SERVER", "/r/redis-server")
    args = ab.parse_args(["--faktory-side", "f=bin", "--out", "o", "--load-tool", "t"])
    assert args.redis_server == Path("/r/redis-server")
    assert args.loadgen == []


LOAD_TOOL_OUTPUT = """Running loadtest with 30000 jobs and 10 threads
Processed 30004 pushes and 30003 pops in 2.581651 seconds, rate: 11620.469899 jobs/s
"""


def test_the_load_tools_result_line_is_read(ab: ModuleType) -> None:
    numbers, errors = ab.parse_load_tool(LOAD_TOOL_OUTPUT)
    assert numbers == {
        "pushes": 30004,
        "pops": 30003,
        "seconds": 2.581651,
        "jobs_per_s": 11620.469899,
    }
    assert errors == []


def test_the_errors_the_load_tool_printed_and_carried_on_after_are_kept(ab: ModuleType) -> None:
    lines = LOAD_TOOL_OUTPUT.splitlines()
    output = "\n".join([lines[0], "ERR Unknown command FLUSH", lines[1]])
    _, errors = ab.parse_load_tool(output)
    assert errors == ["ERR Unknown command FLUSH"]


@pytest.mark.parametrize("output", ["", "Running loadtest with 3 jobs and 1 threads\n", "dial tcp"])
def test_output_without_a_result_line_is_an_error(ab: ModuleType, output: str) -> None:
    with pytest.raises(ab.AbError, match="no result line"):
        ab.parse_load_tool(output)


def test_programs_that_are_not_there_are_named_before_any_run(
    ab: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    python = Path(sys.executable)
    not_executable = tmp_path / "faktory"
    not_executable.write_text("")
    argv = [
        "--side", f"core={python}",
        "--faktory-side", f"go={not_executable}",
        "--redis-server", str(tmp_path / "nowhere" / "valkey-server"),
        "--load-tool", str(python),
        "--out", str(tmp_path / "out"),
    ]  # fmt: skip
    assert ab.main(argv) == 2
    missing = f"{not_executable}, {tmp_path / 'nowhere' / 'valkey-server'}"
    assert capsys.readouterr().err == f"ab: not an executable file: {missing}\n"
    assert not (tmp_path / "out").exists()
