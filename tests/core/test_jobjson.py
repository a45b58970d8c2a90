"""Strict JSON for jobs (decisions.md "Job JSON")."""

from __future__ import annotations

import json
from typing import Any

import pytest

from faktory_core import jobjson
from faktory_core.jobjson import MAX_DEPTH, JSONError


@pytest.fixture(params=["loads", "strict_loads"])
def decode(request: pytest.FixtureRequest) -> Any:
    """Each decoding test runs on :func:`jobjson.loads` (msgspec first, the strict path when in
    doubt) and on the strict path alone: both must give the same values and errors."""
    return getattr(jobjson, request.param)


def nested(depth: int, *, kind: str = "list") -> bytes:
    if kind == "list":
        return b"[" * depth + b"]" * depth
    return b'{"a":' * (depth - 1) + b"{}" + b"}" * (depth - 1)


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        (b"{}", {}),
        (b"[]", []),
        (
            b'{"a":[1,"two",null,true,false,1.5,{"b":-0}]}',
            {"a": [1, "two", None, True, False, 1.5, {"b": 0}]},
        ),
        (b" \t\r\n[1] \n", [1]),
        (b"1e-400", 0.0),  # underflow is fine, overflow is not
        (b"1E5", 100000.0),
        (b'"\\u00e9\\n"', "\u00e9\n"),
        ('"\u00e9"'.encode(), "\u00e9"),
        (b'"\\ud83d\\ude00"', "\U0001f600"),  # a valid surrogate pair
        (b'"\\uD83D\\uDE00"', "\U0001f600"),
        (b'"\xf0\x9f\x98\x80"', "\U0001f600"),
        (b'"\\\\ud800"', "\\ud800"),  # an escaped backslash, not a surrogate
        (b'{"a":1,"a":2}', {"a": 2}),  # duplicate keys: last wins, as Go
    ],
)
def test_loads(decode: Any, raw: bytes, value: object) -> None:
    assert decode(raw) == value


def test_loads_takes_str_and_bytearray(decode: Any) -> None:
    assert decode('{"a":1}') == {"a": 1}
    assert decode(bytearray(b'{"a":1}')) == {"a": 1}


@pytest.mark.parametrize(
    ("raw", "detail"),
    [
        (b"", "unexpected end of JSON input"),
        (b"   \r\n", "unexpected end of JSON input"),
        ("", "unexpected end of JSON input"),
        (b"NaN", "NaN is not valid JSON"),
        (b"[NaN]", "NaN is not valid JSON"),
        (b'{"a":Infinity}', "Infinity is not valid JSON"),
        (b"[-Infinity]", "-Infinity is not valid JSON"),
        (b"1e400", "number 1e400 is out of range"),
        (b"[-1e400]", "number -1e400 is out of range"),
        (b"[1.7976931348623159e308]", "is out of range"),
        (b'"\\ud800"', "lone surrogate"),
        (b'"\\uDFFF"', "lone surrogate"),
        (b'["a", "\\ude00\\ud83d"]', "lone surrogate"),  # reversed pair: two lone halves
        (b'{"\\ud800":1}', "lone surrogate"),  # in a key too
        (b'"\\ud83d x"', "lone surrogate"),
        (b"\xff", "not valid UTF-8"),
        (b'"\xed\xa0\x80"', "not valid UTF-8"),  # a UTF-8-encoded surrogate
        (b"\xef\xbb\xbf{}", "Expecting value"),  # a BOM is not JSON whitespace
    ],
)
def test_rejected(decode: Any, raw: bytes | str, detail: str) -> None:
    with pytest.raises(JSONError) as info:
        decode(raw)
    assert detail in str(info.value)


@pytest.mark.parametrize(
    "raw",
    [
        b"{",
        b"[1,]",
        b'{"a":1,}',
        b"{'a':1}",
        b'{"a" 1}',
        b"01",
        b"[01]",
        b"+1",
        b".5",
        b"1.",
        b"nul",
        b"True",
        b'"a\x01"',  # control characters must be escaped
        b'"a\tb"',
        b'"\\x41"',
        b"[1] [2]",
        b"{} x",
        b"\x00",
        b"1" * 5000,  # more digits than Python converts
    ],
)
def test_invalid_json(decode: Any, raw: bytes) -> None:
    with pytest.raises(JSONError):
        decode(raw)


def test_json_error_is_a_value_error() -> None:
    assert issubclass(JSONError, ValueError)


# -- nesting ------------------------------------------------------------------------------------


def test_max_depth() -> None:
    assert MAX_DEPTH == 100


@pytest.mark.parametrize("kind", ["list", "dict"])
def test_nesting_of_100_levels_is_accepted(decode: Any, kind: str) -> None:
    value = decode(nested(100, kind=kind))
    depth = 0
    while value:
        value = value[0] if isinstance(value, list) else value["a"]
        depth += 1
    assert depth == 99  # the innermost container is empty


@pytest.mark.parametrize("kind", ["list", "dict"])
def test_nesting_of_101_levels_is_rejected(decode: Any, kind: str) -> None:
    with pytest.raises(JSONError, match="nesting deeper than 100 levels"):
        decode(nested(101, kind=kind))


@pytest.mark.parametrize("depth", [1000, 100_000])
def test_very_deep_nesting_is_a_clean_error(decode: Any, depth: int) -> None:
    with pytest.raises(JSONError, match="nesting deeper than 100 levels"):
        decode(nested(depth))
    with pytest.raises(JSONError):
        decode(b"[" * depth)  # unterminated


def test_nesting_counts_the_deepest_branch_only(decode: Any) -> None:
    wide = b"[" + b",".join([nested(99)] * 50) + b"]"  # 5000 brackets, depth 100
    assert len(decode(wide)) == 50
    deep_branch = b"[" + b",".join([nested(99)] * 3 + [nested(100)]) + b"]"
    with pytest.raises(JSONError):
        decode(deep_branch)


def test_brackets_inside_strings_do_not_nest(decode: Any) -> None:
    text = "[" * 500 + "{" * 500
    assert decode(json.dumps([text]).encode()) == [text]


# -- numbers ------------------------------------------------------------------------------------


def test_big_integers_round_trip_exactly(decode: Any) -> None:
    raw = b'{"args":[12345678901234567890,-98765432109876543210,9007199254740993]}'
    value = decode(raw)
    assert value["args"][0] == 12345678901234567890
    assert value["args"][2] == 2**53 + 1
    assert jobjson.dumps(value) == raw


@pytest.mark.parametrize(
    "number", [b"0.1", b"1.5", b"-2.25", b"1e+21", b"1e-07", b"123.456", b"0.000001"]
)
def test_floats_keep_their_value(decode: Any, number: bytes) -> None:
    value = decode(b"[" + number + b"]")
    assert value == [float(number)]
    assert decode(jobjson.dumps(value)) == value


def test_integers_stay_integers(decode: Any) -> None:
    value = decode(b"[1, 1.0]")
    assert type(value[0]) is int
    assert type(value[1]) is float


# -- dumps --------------------------------------------------------------------------------------


def test_dumps_is_compact_utf8() -> None:
    value = {"b": [1, 2.5, None, True], "a": "\u00e9<&>\U0001f600"}
    assert jobjson.dumps(value) == '{"b":[1,2.5,null,true],"a":"\u00e9<&>\U0001f600"}'.encode()


def test_dumps_keeps_key_order() -> None:
    assert jobjson.dumps({"z": 1, "a": 2}) == b'{"z":1,"a":2}'


@pytest.mark.parametrize("value", [float("nan"), float("inf"), [float("-inf")]])
def test_dumps_rejects_non_finite_numbers(value: object) -> None:
    with pytest.raises(JSONError):
        jobjson.dumps(value)


@pytest.mark.parametrize("value", ["\ud800", ["a", "\udfff"], {"\ud800": 1}])
def test_dumps_rejects_lone_surrogates(value: object) -> None:
    with pytest.raises(JSONError, match="lone surrogate"):
        jobjson.dumps(value)


def test_round_trip(decode: Any) -> None:
    value = {
        "jid": "abcdefgh",
        "args": [1, -2, 3.25, "x", None, True, [], {}, {"k": ["v"]}],
        "custom": {"nested": {"deep": [12345678901234567890]}},
    }
    assert decode(jobjson.dumps(value)) == value


def test_brackets_in_strings_are_not_levels(decode: Any) -> None:
    """Depth is walked only when the text has enough brackets to be deep (issue 20's shortcut):
    brackets inside strings make the walk run, and it still counts levels, not brackets."""
    text = b'{"args":["' + b"[{" * 200 + b'"],"x":' + nested(98) + b"}"
    value = decode(text)
    assert value["args"] == ["[{" * 200]
    with pytest.raises(JSONError, match="nesting deeper than 100 levels"):
        decode(b'{"args":["[[[["],"x":' + nested(100) + b"}")
    items = list(jobjson.iter_array(b"[" + b",".join([b'"[[["', nested(99)]) + b"]"))
    assert items[0] == "[[["
    with pytest.raises(JSONError, match="nesting deeper than 100 levels"):
        list(jobjson.iter_array(b'["x",' + nested(100) + b"]"))
