"""Strict JSON for jobs (decisions.md, "Job JSON").

Rejected at PUSH with ``invalid JSON: ...``: NaN and Infinity (as literals or by overflow),
lone surrogates, and nesting deeper than :data:`MAX_DEPTH` -- none of these could ever be
delivered to a Go or Node worker. Numbers are kept as sent: integers of any size survive, and
floats round-trip exactly.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from typing import Any

__all__ = ["MAX_DEPTH", "JSONError", "dumps", "iter_array", "loads"]

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


def loads(raw: bytes | str, *, lone_surrogates: bool = False) -> Any:
    """Decode strictly; raises :class:`JSONError` with a readable detail.

    ``lone_surrogates=True`` lets strings keep lone surrogates (a HELLO's ``pwdhash`` may hold
    one, as Go replaces it rather than refusing); nesting is bounded either way.
    """
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
    """
    text = _text(raw)
    surrogates = _escapes_surrogates(text)
    index = _skip(text, 0)
    if not text.startswith("[", index):
        value = loads(text)  # a proper error, or a value that is not an array
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
        return _encoder.encode(value).encode("utf-8")
    except UnicodeEncodeError:
        raise JSONError("string contains a lone surrogate") from None
    except ValueError as exc:
        raise JSONError(str(exc)) from None
