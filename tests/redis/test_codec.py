"""The Redis store's job decoding: msgspec's one pass where it is sure, the strict path
otherwise, the same Job either way -- and a stored ``reserve_for`` over PUSH's bound kept."""

from __future__ import annotations

import json

import pytest

from faktory_core.model import MAX_RESERVE_FOR
from faktory_core.plugins.redis_store.codec import Unreadable, _job, _loads, decode_job
from faktory_core.testing.contract import failed, make_job

STORED = [
    make_job().encode(),
    make_job("Ünïcode ☃", args=[1.5, 10**30, "x" * 300, {"a": [None, True]}]).encode(),
    make_job(custom={"track": 1, "nested": {"deep": [1, 2, 3]}}, at="").encode(),
    failed(make_job(retry=3)).encode(),
    json.dumps({"jid": "abcdefghij", "jobtype": "T", "args": [], "unknown": 1}).encode(),
    json.dumps({"jid": "abcdefghij", "jobtype": "T", "args": [], "queue": None}).encode(),
]


@pytest.mark.parametrize("raw", STORED)
def test_the_fast_and_strict_paths_give_the_same_job(raw: bytes) -> None:
    assert decode_job(raw) == _job(_loads(raw))
    assert decode_job(raw).encode() == _job(_loads(raw)).encode()


def test_a_stored_reserve_for_over_the_bound_is_kept() -> None:
    raw = json.dumps(
        {"jid": "abcdefghij", "jobtype": "T", "args": [], "reserve_for": MAX_RESERVE_FOR + 1}
    ).encode()
    assert decode_job(raw).reserve_for == MAX_RESERVE_FOR + 1


@pytest.mark.parametrize(
    "raw",
    [b"", b"{", b"[]", b'{"jid":"short","jobtype":"T","args":[]}', b'{"jid":1}', b"\xff"],
)
def test_what_this_store_never_writes_is_unreadable(raw: bytes) -> None:
    with pytest.raises(Unreadable):
        decode_job(raw)
