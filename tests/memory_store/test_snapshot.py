"""Snapshot damage found by issue 13: each names the file instead of crashing or loading."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from faktory_core.plugins.memory_store import SnapshotError, snapshot


def test_a_snapshot_nested_too_deeply_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "memory_store.json"
    path.write_bytes(b"[" * 100_000 + b"]" * 100_000)
    with pytest.raises(SnapshotError, match="nested too deeply") as caught:
        snapshot.load(path)
    assert str(path) in str(caught.value)


def test_a_deep_job_inside_a_snapshot_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "memory_store.json"
    deep = "[" * 5000 + "]" * 5000
    text = (
        '{"format":"faktory-core/memory-store","version":2,"queues":{"q":[{"jid":"j-0000001",'
        f'"jobtype":"T","queue":"q","args":{deep}}}]}},"paused":[],"sets":{{}},'
        '"reservations":[],"counters":{"processed":0,"failures":0},"history":{},"kv":{},'
        '"workers":[],"journal":0}'
    )
    path.write_text(text)
    with pytest.raises(SnapshotError) as caught:
        snapshot.load(path)
    assert str(path) in str(caught.value)


@pytest.mark.parametrize("name", ["bad name", "", "a/b", "é"])
def test_an_invalid_queue_name_in_a_snapshot_is_refused(tmp_path: Path, name: str) -> None:
    path = tmp_path / "memory_store.json"
    document = {
        "format": snapshot.FORMAT,
        "version": 2,
        "queues": {name: []},
        "paused": [],
        "sets": {},
        "reservations": [],
        "counters": {"processed": 0, "failures": 0},
        "history": {},
        "kv": {},
        "workers": [],
        "journal": 0,
    }
    path.write_text(json.dumps(document))
    with pytest.raises(SnapshotError, match="is not a valid queue name") as caught:
        snapshot.load(path)
    assert str(path) in str(caught.value)
