"""docs/scaling.md says what its committed benchmark results say, and names the real defaults."""

from __future__ import annotations

import json
import re
import shlex
import statistics
from pathlib import Path
from typing import Any

import pytest

from faktory_core.config import Config
from faktory_core.plugins.redis_store.connection import DEFAULT_POOL_SIZE

ROOT = Path(__file__).resolve().parent.parent
DOC = (ROOT / "docs" / "scaling.md").read_text("utf-8")
RESULTS = ROOT / "benchmarks" / "results" / "2026-12-05-scaling"

#: Each table of the page, by the file behind it: its columns (a run's key, or None for a
#: column the check leaves alone), in the page's order after "servers".
TABLES = {
    "scaling.jsonl": (
        "jobs_per_s",
        "server_cpu_us_per_job",
        "redis_cpu_us_per_job",
        "redis_reads_per_job",
        "client_cpu_us_per_job",
        "others_cpu_us_per_job",
        None,
    ),
    "scaling-waiting.jsonl": (
        "jobs_per_s",
        "server_cpu_us_per_job",
        "redis_cpu_us_per_job",
        "redis_evalsha_per_job",
        None,
        None,
        "others_cpu_us_per_job",
        None,
    ),
}


def _number(text: str) -> float:
    return float(text.replace(",", "").replace("*", "").strip())


def _cells(cell: str) -> tuple[float, tuple[float, float] | None]:
    """``**233** (208-252.5)`` -> (233.0, (208.0, 252.5)); a cell without a range -> (x, None)."""
    match = re.fullmatch(r"\s*([\d,.*]+)\s*(?:\(([\d,.]+)-([\d,.]+)\))?\s*%?.*", cell)
    assert match, cell
    median = _number(match[1])
    if match[2] is None:
        return median, None
    return median, (_number(match[2]), _number(match[3]))


def _table_after(command_file: str) -> list[list[str]]:
    """The rows of the first table after the command that wrote ``command_file``."""
    start = DOC.index(f"results/2026-12-05-scaling/{command_file}")
    rows = []
    for line in DOC[start:].splitlines():
        if line.startswith("| ") and not line.startswith("| servers"):
            rows.append([cell for cell in line.strip().strip("|").split("|")])
        elif rows:
            break
    return rows


def _runs(name: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((RESULTS / name).read_text().splitlines()[0])
    return doc


@pytest.mark.parametrize("name", sorted(TABLES))
def test_tables_are_the_medians_of_the_committed_runs(name: str) -> None:
    doc = _runs(name)
    rows = _table_after(name)
    assert [int(row[0]) for row in rows] == [1, 2, 3]
    for row in rows:
        mine = [run for run in doc["runs"] if run["servers"] == int(row[0])]
        assert mine
        for key, cell in zip(TABLES[name], row[1:], strict=True):
            if key is None:
                continue
            values = [run[key] for run in mine]
            median, span = _cells(cell)
            assert median == pytest.approx(statistics.median(values)), (name, row[0], key)
            if span is not None:
                assert span == pytest.approx((min(values), max(values))), (name, row[0], key)


@pytest.mark.parametrize("name", sorted(TABLES))
def test_the_commands_shown_are_the_ones_recorded(name: str) -> None:
    recorded = shlex.split(_runs(name)["command"])[1:]  # after "python"
    block = re.search(rf"```sh\n(cd benchmarks && [^`]*{re.escape(name)})\n```", DOC)
    assert block, name
    shown = shlex.split(block[1].replace("\\\n", " "))
    assert shown[shown.index("scaling.py") :] == recorded


def test_connection_defaults_are_the_real_ones() -> None:
    config = Config()
    section = DOC[DOC.index("## Connections") :]
    assert f"| {config.max_connections:,} |" in section
    assert f"| {config.max_handshaking} |" in section
    assert f"| {config.max_buffered // (1024 * 1024)} MiB |" in section
    assert f"| {DEFAULT_POOL_SIZE} at most" in section
