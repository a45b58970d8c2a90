"""Strict JSON for jobs (decisions.md, "Job JSON").

Rejected at PUSH with ``invalid JSON: ...``: NaN and Infinity (as literals or by overflow),
lone surrogates, and nesting deeper than :data:`MAX_DEPTH` -- none of these could ever be
delivered to a Go or Node worker. Numbers are kept as sent: integers of any size survive, and
floats round-trip exactly.

Both directions have a fast path in msgspec's C code (issue 20), taken only where it is known to
give what the strict stdlib path gives: :func:`loads` tries msgspec first on bytes with no
``\\uD8xx``-style escape and too few brackets to nest deeper than :data:`MAX_DEPTH`, and falls
back to the strict path (its values, its error texts) on anything msgspec refuses; :func:`dumps`
uses msgspec only for values made of dicts with string keys, lists, strings, integers, booleans
and None (msgspec writes some floats differently, ``1e16`` for ``1e+16``).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from typing import Any

import msgspec

__all__ = ["MAX_DEPTH", "JSONError", "dumps", "fast_loads", "iter_array", "loads", "plain"]

#: The deepest nesting accepted in a job (Go's decoder allows 10000; no real job comes close).
MAX_DEPTH = 100


class JSONError(ValueError):
    """The text is not JSON we accept; ``str()`` is the detail after ``invalid JSON: ``."""


def _reject_constant(name: str) -> Any:
    raise JSONError(f"{name} is not valid JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise JSONError(f"number {text} is out of range")
    return value


_decoder = json.JSONDecoder(parse_constant=_reject_constant, parse_float=_finite_float)
_encoder = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)


_fast_decoder = msgspec.json.Decoder()
_fast_encode = msgspec.json.encode

#: What :func:`fast_loads` returns when it leaves the decision to the strict path.
DOUBT: Any = object()

#: What msgspec raises on text it refuses (any of them sends the text to the strict path).
FAST_REFUSALS = (msgspec.DecodeError, ValueError, RecursionError)


def loads(raw: bytes | str, *, lone_surrogates: bool = False) -> Any:
    """Decode strictly; raises :class:`JSONError` with a readable detail.

    ``lone_surrogates=True`` lets strings keep lone surrogates (a HELLO's ``pwdhash`` may hold
    one, as Go replaces it rather than refusing); nesting is bounded either way.
    """
    if not lone_surrogates:
        value = fast_loads(raw)
        if value is not DOUBT:
            return value
    return strict_loads(raw, lone_surrogates=lone_surrogates)


def fast_loads(raw: bytes | str) -> Any:
    """msgspec's decoding of ``raw`` where it equals :func:`strict_loads`'s, else :data:`DOUBT`.

    Taken only for bytes that cannot hold a surrogate escape and have at most
    :data:`MAX_DEPTH` brackets; msgspec then refuses all the strict path refuses (invalid
    UTF-8, NaN and Infinity, numbers that overflow a float, integers of more than 4300 digits)
    and decodes the rest to the same values (tests/core/test_fastpath.py checks both on
    generated and mutated texts)."""
    if type(raw) is not bytes or not safe_for_fast(raw):
        return DOUBT
    try:
        return _fast_decoder.decode(raw)
    except FAST_REFUSALS:
        return DOUBT


def safe_for_fast(raw: bytes) -> bool:
    """No escape that could be a lone surrogate, too few brackets to be too deep."""
    return (
        b"\\ud" not in raw and b"\\uD" not in raw and raw.count(b"[") + raw.count(b"{") <= MAX_DEPTH
    )


def strict_loads(raw: bytes | str, *, lone_surrogates: bool = False) -> Any:
    """:func:`loads` on the stdlib decoder alone (the reference the fast path is held to)."""
    text = _text(raw)
    if not text.strip():
        raise JSONError("unexpected end of JSON input")
    value = _decode(text)
    surrogates = not lone_surrogates and _escapes_surrogates(text)
    _check(value, MAX_DEPTH, surrogates=surrogates, shallow=_shallow(text, MAX_DEPTH))
    return value


def iter_array(raw: bytes | str) -> Iterator[Any]:
    """The items of a JSON array, decoded (as strictly as :func:`loads`) one at a time.

    A client's 15 MiB PUSHB is one array: decoding item by item lets the caller yield to the
    event loop between items instead of holding it for the whole payload. Raises
    :class:`JSONError` at the first bad item, or when the text is not an array at all.
    An array of at most :data:`FAST_ARRAY_BYTES` is decoded at once by msgspec when every
    item passes :func:`fast_loads`'s conditions (one level down), else item by item here.
    """
    items = _fast_items(raw)
    if items is not None:
        yield from items
        return
    yield from _strict_items(raw)


#: The largest array :func:`iter_array` decodes in one go (about a millisecond in msgspec).
FAST_ARRAY_BYTES = 1 << 20

_spans_decoder = msgspec.json.Decoder(list[msgspec.Raw])


def _fast_items(raw: bytes | str) -> list[Any] | None:
    """The items, or None when the strict item-by-item path must decide."""
    if type(raw) is not bytes or len(raw) > FAST_ARRAY_BYTES:
        return None
    if b"\\ud" in raw or b"\\uD" in raw:
        return None
    try:
        spans = _spans_decoder.decode(raw)
        items = []
        for span in spans:
            item = bytes(span)
            if item.count(b"[") + item.count(b"{") > MAX_DEPTH - 1:
                return None
            items.append(_fast_decoder.decode(item))
    except FAST_REFUSALS:
        return None
    return items


def _strict_items(raw: bytes | str) -> Iterator[Any]:
    text = _text(raw)
    surrogates = _escapes_surrogates(text)
    index = _skip(text, 0)
    if not text.startswith("[", index):
        value = strict_loads(text)  # a proper error, or a value that is not an array
        yield value
        return
    index = _skip(text, index + 1)
    if text.startswith("]", index):
        _end(text, index + 1)
        return
    while True:
        start = index
        value, index = _raw_decode(text, index)
        shallow = _shallow(text, MAX_DEPTH - 1, start, index)
        _check(value, MAX_DEPTH - 1, surrogates=surrogates, shallow=shallow)
        yield value
        index = _skip(text, index)
        if text.startswith(",", index):
            index = _skip(text, index + 1)
            continue
        if text.startswith("]", index):
            _end(text, index + 1)
            return
        raise JSONError(f"expecting ',' delimiter: char {index}")


_WHITESPACE = re.compile(r"[ \t\n\r]*")


def _skip(text: str, index: int) -> int:
    match = _WHITESPACE.match(text, index)
    return match.end() if match else index


def _end(text: str, index: int) -> None:
    if _skip(text, index) != len(text):
        raise JSONError(f"extra data: char {index}")


def _text(raw: bytes | str) -> str:
    try:
        return raw.decode("utf-8") if isinstance(raw, bytes | bytearray) else raw
    except UnicodeDecodeError:
        raise JSONError("payload is not valid UTF-8") from None


def _decode(text: str) -> Any:
    return _guarded(_decoder.decode, text)


def _raw_decode(text: str, index: int) -> tuple[Any, int]:
    result: tuple[Any, int] = _guarded(_decoder.raw_decode, text, index)
    return result


def _guarded(decode: Any, *args: Any) -> Any:
    # The C scanner recurses once per level and raises RecursionError near the interpreter's
    # limit (~1000): caught here, it is one more "too deep", never an escaping exception.
    try:
        return decode(*args)
    except JSONError:
        raise
    except RecursionError:
        raise JSONError(f"nesting deeper than {MAX_DEPTH} levels") from None
    except ValueError as exc:
        raise JSONError(str(exc)) from None


def _escapes_surrogates(text: str) -> bool:
    # Surrogates can only come from \\uD8xx-\\uDFxx escapes (raw UTF-8 cannot hold them).
    return "\\ud" in text or "\\uD" in text


def _shallow(text: str, limit: int, start: int = 0, end: int | None = None) -> bool:
    """True when ``text[start:end]`` has too few brackets to nest more than ``limit`` levels
    (each level opens one; brackets inside strings only over-count): the walk can be skipped.
    A C-speed count instead of a Python walk of every job (issue 20)."""
    return text.count("[", start, end) + text.count("{", start, end) <= limit


def _check(value: Any, limit: int, *, surrogates: bool, shallow: bool = False) -> None:
    """Depth and lone surrogates, after the C decoder accepted ``value``."""
    if not shallow and isinstance(value, dict | list) and _too_deep(value, limit):
        raise JSONError(f"nesting deeper than {MAX_DEPTH} levels")
    # A pair decodes to one character, so encoding finds exactly the lone ones.
    if surrogates:
        dumps(value)


_CONTAINERS = (dict, list)


def _too_deep(value: Any, limit: int) -> bool:
    """True if ``value`` nests more than ``limit`` levels; a level at a time, containers only."""
    level = [value]
    for _ in range(limit):
        below: list[Any] = []
        for item in level:
            children = item.values() if type(item) is dict else item
            below.extend(child for child in children if isinstance(child, _CONTAINERS))
        if not below:
            return False
        level = below
    return True


def dumps(value: Any) -> bytes:
    """Compact UTF-8 JSON; a lone surrogate anywhere raises :class:`JSONError`."""
    try:
        fast = plain(value)
    except RecursionError:
        fast = False  # deeper than the walk goes: the stdlib's encoder decides
    return dumps_plain(value) if fast else strict_dumps(value)


def dumps_plain(value: Any) -> bytes:
    """:func:`dumps` of a value the caller knows is :func:`plain`."""
    try:
        return _fast_encode(value)
    except UnicodeEncodeError:
        raise JSONError("string contains a lone surrogate") from None
    except (TypeError, RecursionError):
        return strict_dumps(value)


_SCALARS = frozenset((str, int, bool, type(None)))


def plain(value: Any) -> bool:
    """True when ``value`` holds only dicts with string keys, lists, strings, integers,
    booleans and None (exact types): msgspec encodes those byte for byte as the stdlib does."""
    kind = type(value)
    if kind in _SCALARS:
        return True
    items: Any
    if kind is list:
        items = value
    elif kind is dict:
        for key in value:
            if type(key) is not str:
                return False
        items = value.values()
    else:
        return False
    return all(type(item) in _SCALARS or plain(item) for item in items)


def strict_dumps(value: Any) -> bytes:
    """:func:`dumps` on the stdlib encoder alone (floats, and anything not :func:`plain`)."""
    try:
        return _encoder.encode(value).encode("utf-8")
    except UnicodeEncodeError:
        raise JSONError("string contains a lone surrogate") from None
    except ValueError as exc:
        raise JSONError(str(exc)) from None
