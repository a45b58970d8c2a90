"""The msgspec fast paths of job JSON (issue 20) against the strict stdlib paths they stand in for.

``jobjson.loads`` and ``model.decode_job`` try msgspec first and fall back to the strict path
when in doubt; ``jobjson.dumps`` and ``Job.encode`` use msgspec for values without floats. Each
must give exactly what the strict path gives: the same values (types included), the same
errors, the same bytes. Hypothesis generates JSON texts, mutates them byte by byte towards the
known differences (big numbers, NaN, surrogate escapes, depth, invalid UTF-8, duplicate keys)
and compares both paths on each.
"""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from faktory_core import jobjson, model
from faktory_core.errors import InvalidJob
from faktory_core.jobjson import DOUBT, MAX_DEPTH, JSONError
from faktory_core.model import Failure, Job

SETTINGS = settings(max_examples=600, deadline=None, derandomize=True)


def same(a: Any, b: Any) -> bool:
    """Equal with types: ``1``, ``1.0`` and ``True`` differ, ``-0.0`` differs from ``0.0``."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return math.copysign(1.0, a) == math.copysign(1.0, b) and a == b
    if isinstance(a, list):
        return len(a) == len(b) and all(map(same, a, b))
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[key], b[key]) for key in a)
    return bool(a == b)


def outcome(decode: Any, raw: Any) -> tuple[str, Any]:
    try:
        return "value", decode(raw)
    except (JSONError, InvalidJob) as exc:
        return type(exc).__name__, str(exc)


def agree(raw: bytes) -> None:
    """The fast path, when it answers, equals the strict one; ``loads`` always does."""
    strict = outcome(jobjson.strict_loads, raw)
    fast = jobjson.fast_loads(raw)
    if fast is not DOUBT:
        assert strict[0] == "value", (raw, strict)
        assert same(fast, strict[1]), (raw, fast, strict[1])
    full = outcome(jobjson.loads, raw)
    assert full[0] == strict[0]
    assert same(full[1], strict[1]) if full[0] == "value" else full[1] == strict[1]


# -- values and texts ---------------------------------------------------------------------------

_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(10**40), max_value=10**40),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(),
    st.sampled_from(["", "\u2028", "\x7f", "\x00\x1f", "\U0001f600", "[{", "\\ud800"]),
)
json_values = st.recursive(
    _scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=5), st.dictionaries(st.text(max_size=5), inner, max_size=5)
    ),
    max_leaves=25,
)


@st.composite
def json_texts(draw: st.DrawFn) -> bytes:
    value = draw(json_values)
    ascii_only = draw(st.booleans())
    spaced = draw(st.sampled_from([(",", ":"), (", ", ": ")]))
    return json.dumps(value, ensure_ascii=ascii_only, separators=spaced).encode()


#: Pieces that push a text towards the places where msgspec and the stdlib could differ.
_PIECES = [
    b"1e999",
    b"-1e400",
    b"1.7976931348623159e308",
    b"1.7976931348623157e308",
    b"4.9e-324",
    b"1e-400",
    b"0e99999",
    b"123456789012345678901234567890",
    b"18446744073709551616",
    b"-9223372036854775809",
    b"1" * 4301,
    b"NaN",
    b"Infinity",
    b"-Infinity",
    b"\\ud800",
    b"\\uDFFF",
    b"\\ud83d\\ude00",
    b"\\u0000",
    b"\\x41",
    b"\xff",
    b"\xed\xa0\x80",
    b"\xc0\x80",
    b"\xef\xbb\xbf",
    b"\x0c",
    b"\x00",
    b"\t",
    b"[" * 60,
    b"]" * 60,
    b"{",
    b"}",
    b'"a":1,"a":2',
    b",",
    b":",
    b'"',
    b"-",
    b".",
    b"e",
    b"E+",
    b"0",
    b"01",
    b"true",
    b"nul",
]


@st.composite
def mutated_texts(draw: st.DrawFn) -> bytes:
    raw = bytearray(draw(json_texts()))
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        where = draw(st.integers(min_value=0, max_value=len(raw)))
        how = draw(st.sampled_from(["insert", "replace", "delete"]))
        piece = draw(st.sampled_from(_PIECES))
        if how == "insert":
            raw[where:where] = piece
        elif how == "replace":
            raw[where : where + len(piece)] = piece
        else:
            del raw[where : where + draw(st.integers(min_value=1, max_value=3))]
    return bytes(raw)


@st.composite
def number_texts(draw: st.DrawFn) -> bytes:
    sign = draw(st.sampled_from(["", "-"]))
    whole = draw(st.sampled_from(["0", *"123456789"])) + draw(st.text("0123456789", max_size=25))
    if whole.startswith("0"):
        whole = "0"
    fraction = draw(st.text("0123456789", max_size=25))
    exponent = draw(st.one_of(st.none(), st.integers(min_value=-400, max_value=400)))
    text = sign + whole + (f".{fraction}" if fraction else "")
    if exponent is not None:
        text += draw(st.sampled_from(["e", "E"])) + draw(st.sampled_from(["", "+"])) + str(exponent)
        text = text.replace("+-", "-")
    return f"[{text}]".encode()


@SETTINGS
@given(json_texts())
def test_loads_agrees_on_generated_json(raw: bytes) -> None:
    agree(raw)


@SETTINGS
@given(mutated_texts())
def test_loads_agrees_on_mutated_json(raw: bytes) -> None:
    agree(raw)


@SETTINGS
@given(number_texts())
def test_loads_agrees_on_numbers(raw: bytes) -> None:
    agree(raw)


@SETTINGS
@given(st.floats(allow_nan=False, allow_infinity=False))
def test_every_float_repr_decodes_the_same(value: float) -> None:
    for text in (repr(value), f"{value:.17e}", f"{value:.25g}"):
        agree(f"[{text}]".encode())


@pytest.mark.parametrize(
    "raw",
    [
        b'"\\ud800"',
        b'"\\ud83d\\ude00"',  # a valid pair: the strict path decides (no fast answer)
        b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1),
        b"[" * 5000 + b"]" * 5000,
        b"[1e999]",
        b"[NaN]",
        b"1" * 4301,
        b'"\xff"',
        b"",
        b"  ",
        b"\xef\xbb\xbf{}",
        b'{"a":1,"b":2,"a":3}',
    ],
)
def test_known_differences_agree(raw: bytes) -> None:
    agree(raw)


def test_the_fast_path_is_taken_for_plain_jobs() -> None:
    raw = b'{"jid":"0123456789","jobtype":"T","args":[1,"x",3,1.5,12345678901234567890]}'
    assert jobjson.fast_loads(raw) == jobjson.strict_loads(raw)
    assert model.fast_job(raw) == model.strict_job(raw)


def test_doubtful_texts_go_to_the_strict_path() -> None:
    assert jobjson.fast_loads(b'["\\ud83d\\ude00"]') is DOUBT  # could be a lone surrogate
    assert jobjson.fast_loads(b"[" * 101 + b"]" * 101) is DOUBT  # could be too deep
    assert jobjson.fast_loads("[1]") is DOUBT  # only bytes
    assert jobjson.fast_loads(b"[1e999]") is DOUBT  # msgspec refuses: the strict error


# -- dumps ---------------------------------------------------------------------------------------


def dumped(dumps: Any, value: Any) -> tuple[str, Any]:
    try:
        return "bytes", dumps(value)
    except JSONError as exc:
        return "error", str(exc)


@SETTINGS
@given(json_values)
def test_dumps_writes_the_stdlib_bytes(value: Any) -> None:
    assert dumped(jobjson.dumps, value) == dumped(jobjson.strict_dumps, value)


@SETTINGS
@given(json_values.filter(jobjson.plain))
def test_plain_values_encode_the_same(value: Any) -> None:
    assert dumped(jobjson.dumps_plain, value) == dumped(jobjson.strict_dumps, value)


@pytest.mark.parametrize(
    "value",
    [
        1e16,
        [1e-07, 1.5, -0.0],
        {"a": 1e300},
        "\ud800",
        ["\udfff"],
        {1: "int key"},
        (1, 2),
        {"k": (1,)},
        float("nan"),
        [float("inf")],
        True,
        2**200,
        -(2**70),
        '\x00\x1f\x7f\u2028\u2029"\\/\b\f\n\r\t\U0001f600',
    ],
)
def test_dumps_edge_values(value: Any) -> None:
    assert dumped(jobjson.dumps, value) == dumped(jobjson.strict_dumps, value)


def test_floats_are_never_encoded_by_msgspec() -> None:
    assert not jobjson.plain([1, 2.0])
    assert jobjson.dumps({"a": 1e16}) == b'{"a":1e+16}'  # msgspec would write 1e16


# -- jobs ----------------------------------------------------------------------------------------

_KEYS = [
    "jid",
    "jobtype",
    "args",
    "queue",
    "retry",
    "created_at",
    "enqueued_at",
    "at",
    "reserve_for",
    "backtrace",
    "custom",
    "failure",
    "priority",
    "JID",
]
_field_values = st.one_of(
    json_values,
    st.sampled_from(["0123456789", "abc", "ééééé", "", "default", "T", "2030-01-01T00:00:00Z"]),
    st.sampled_from([0, 1, 25, 86400, 86401, -1, 2**70, True, 3.0]),
    st.builds(
        dict,
        retry_count=st.one_of(st.integers(), st.text(max_size=3)),
        message=st.one_of(st.text(max_size=5), st.integers()),
        backtrace=st.one_of(st.lists(st.text(max_size=3), max_size=2), st.just([1])),
    ),
)


@st.composite
def job_texts(draw: st.DrawFn) -> bytes:
    data: dict[str, Any] = {}
    if draw(st.booleans()):
        data = {"jid": "0123456789abcdef", "jobtype": "Thing", "args": [1, "x"]}
    for key in draw(st.lists(st.sampled_from(_KEYS), max_size=6)):
        data[key] = draw(_field_values)
    text = json.dumps(data, ensure_ascii=draw(st.booleans()), separators=(",", ":"))
    if draw(st.booleans()) and len(text) > 2:  # a duplicate key, first or last
        key = draw(st.sampled_from(_KEYS))
        extra = f"{json.dumps(key)}:{json.dumps(draw(_field_values))}"
        text = (
            "{" + extra + "," + text[1:] if draw(st.booleans()) else text[:-1] + "," + extra + "}"
        )
    return text.encode()


def job_agree(raw: bytes) -> None:
    strict = outcome(model.strict_job, raw)
    fast = outcome(model.fast_job, raw)
    if fast[0] == "InvalidJob":
        assert fast == strict, raw
    elif fast[1] is not None:
        assert strict[0] == "value", (raw, strict)
        assert fast[1] == strict[1]
        assert same(fast[1].args, strict[1].args)
        assert same(fast[1].custom, strict[1].custom)
        assert fast[1].encode() == strict[1].encode()
    assert outcome(model.decode_job, raw) == strict


@SETTINGS
@given(job_texts())
def test_decode_job_agrees(raw: bytes) -> None:
    job_agree(raw)


@SETTINGS
@given(job_texts().map(lambda raw: raw.replace(b'"x"', b'"\\ud800"').replace(b"1,", b"1e999,")))
def test_decode_job_agrees_on_bad_numbers_and_surrogates(raw: bytes) -> None:
    job_agree(raw)


@pytest.mark.parametrize(
    "raw",
    [
        b'{"jid":"0123456789","jobtype":"T","args":[]}',
        b'{"jid":"\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9","jobtype":"T","args":[]}',  # 8 bytes, 4 chars
        b'{"jid":"\xc3\xa9\xc3\xa9\xc3\xa9","jobtype":"T","args":[]}',  # 6 bytes
        b'{"jid":"0123456789","jobtype":"T","args":[],"reserve_for":86401}',
        b'{"jid":"0123456789","jobtype":"T","args":[],"retry":3.0}',
        b'{"jid":"0123456789","jobtype":"T","args":[],"retry":true}',
        b'{"jid":"0123456789","jobtype":"T","args":[],"retry":123456789012345678901234}',
        b'{"jid":"0123456789","jobtype":"T","args":[],"retry":"x","retry":3}',
        b'{"jid":"0123456789","jobtype":"T","args":[],"jid":null}',
        b'{"jid":"0123456789","jobtype":"T","args":[],"failure":{"retry_count":"x"}}',
        b'{"jid":"0123456789","jobtype":"T","args":[],"failure":[]}',
        b'{"jid":"0123456789","jobtype":"T","args":[],"failure":{"backtrace":["a"]}}',
        b'{"jid":"0123456789","jobtype":"T","args":[],"custom":{},"queue":""}',
        b'{"jid":"0123456789","jobtype":"T","args":[],"priority":9}',
        b'{"jid":"0123456789","jobtype":"T","args":{}}',
        b'{"jid":"0123456789","jobtype":"","args":[]}',
        b'{"jid":"0123456789","jobtype":"T"}',
        b"[]",
        b"null",
        b"",
    ],
)
def test_decode_job_edge_cases_agree(raw: bytes) -> None:
    job_agree(raw)


@pytest.mark.parametrize(
    "job",
    [
        Job("0123456789", "T", [1, "x", None, True, {"k": [2**70]}]),
        Job("0123456789", "T", [1.5, 1e16], custom={"a": 1e-07}),
        Job("0123456789", "T", [], failure=Failure(1, 2, "f", "n", "m", "e", ("a", "b"))),
        Job("0123456789", "T", ["\x00\u2028é\U0001f600"], custom={"nested": {"x": []}}),
    ],
)
def test_job_encode_is_the_stdlib_bytes(job: Job) -> None:
    assert job.encode() == jobjson.strict_dumps(job.to_dict())


def test_job_encode_refuses_lone_surrogates() -> None:
    with pytest.raises(JSONError, match="lone surrogate"):
        Job("0123456789", "T", ["\ud800"]).encode()


@SETTINGS
@given(json_values, st.one_of(st.none(), st.dictionaries(st.text(max_size=4), json_values)))
def test_job_encode_agrees(args: Any, custom: Any) -> None:
    assume(isinstance(args, list))
    job = Job("0123456789", "T", args, custom=custom or None)
    assert dumped(lambda _: job.encode(), None) == dumped(jobjson.strict_dumps, job.to_dict())


# -- job_from_dict (PUSHB's items, stored jobs) and iter_array (PUSHB's payload) ------------------


class _Name(str):
    """A str subclass, as plugin code might pass (not from JSON)."""


_python_values = st.one_of(
    _field_values,
    st.sampled_from([(1, 2), _Name("0123456789"), 1.5, float("nan"), b"bytes", {1: 2}]),
)


@st.composite
def job_dicts(draw: st.DrawFn) -> Any:
    if draw(st.integers(min_value=0, max_value=9)) == 0:
        return draw(_python_values)  # not a dict at all
    data: dict[Any, Any] = {}
    if draw(st.booleans()):
        data = {"jid": "0123456789abcdef", "jobtype": "Thing", "args": [1, "x"]}
    for key in draw(st.lists(st.sampled_from([*_KEYS, 7]), max_size=6)):
        data[key] = draw(_python_values)
    return data


@SETTINGS
@given(job_dicts())
def test_job_from_dict_agrees_with_the_checked_path(data: Any) -> None:
    assert outcome(model.job_from_dict, data) == outcome(model._checked_job, data)


def strict_items(raw: bytes) -> tuple[str, Any]:
    try:
        return "value", list(jobjson._strict_items(raw))
    except JSONError as exc:
        return "JSONError", str(exc)


def items_agree(raw: bytes) -> None:
    strict = strict_items(raw)
    fast = jobjson._fast_items(raw)
    if fast is not None:
        assert strict[0] == "value", (raw, strict)
        assert same(fast, strict[1])
    full = outcome(lambda text: list(jobjson.iter_array(text)), raw)
    assert full[0] == strict[0]
    assert same(full[1], strict[1]) if full[0] == "value" else full[1] == strict[1]


@SETTINGS
@given(st.lists(json_texts(), max_size=6), st.sampled_from([b",", b" , ", b",\n"]))
def test_iter_array_agrees_on_generated_arrays(items: list[bytes], comma: bytes) -> None:
    items_agree(b"[" + comma.join(items) + b"]")


@SETTINGS
@given(st.lists(mutated_texts(), min_size=1, max_size=4))
def test_iter_array_agrees_on_mutated_items(items: list[bytes]) -> None:
    items_agree(b"[" + b",".join(items) + b"]")


@pytest.mark.parametrize(
    "raw",
    [
        b"[]",
        b" [ ] ",
        b"{}",
        b"1",
        b"",
        b"[1,]",
        b"[1 2]",
        b"[1] x",
        b"[" + b"[" * 99 + b"]" * 99 + b"]",  # an item 99 deep: accepted
        b"[" + b"[" * 100 + b"]" * 100 + b"]",  # 100 deep: too deep
        b"[1," + b"[" * 100 + b"]" * 100 + b"]",
        b'["\\ud800"]',
        b"[1e999]",
        b"[NaN]",
        b'["\xff"]',
        b"[" + b",".join([b"1"] * 10) + b"]",
    ],
)
def test_iter_array_edge_cases_agree(raw: bytes) -> None:
    items_agree(raw)


def test_a_big_array_is_decoded_item_by_item() -> None:
    raw = b"[" + b",".join([b'"' + b"x" * 1000 + b'"'] * 2000) + b"]"
    assert len(raw) > jobjson.FAST_ARRAY_BYTES
    assert jobjson._fast_items(raw) is None
    assert list(jobjson.iter_array(raw)) == ["x" * 1000] * 2000
