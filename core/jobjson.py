"""Strict JSON for jobs (decisions.md, "Job JSON").

Rejected at PUSH with ``invalid JSON: ...``: NaN and Infinity (as literals or by overflow),
lone surrogates, and nesting deeper than :data:`MAX_DEPTH` -- none of these could ever be
delivered to a Go or Node worker. Numbers are kept as sent: integers of any size survive, and
floats round-trip exactly.
"""

from __future__ import annotations

import json
import math
from typing import Any

__all__ = ["MAX_DEPTH", "JSONError", "dumps", "loads"]

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


def loads(raw: bytes | str) -> Any:
    """Decode strictly; raises :class:`JSONError` with a readable detail."""
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes | bytearray) else raw
    except UnicodeDecodeError:
        raise JSONError("payload is not valid UTF-8") from None
    if not text.strip():
        raise JSONError("unexpected end of JSON input")
    try:
        value = _decoder.decode(text)
    except JSONError:
        raise
    except RecursionError:
        raise JSONError(f"nesting deeper than {MAX_DEPTH} levels") from None
    except ValueError as exc:
        raise JSONError(str(exc)) from None
    # Cheap bound first: fewer brackets than the limit cannot nest deeper than it.
    if text.count("[") + text.count("{") > MAX_DEPTH and _depth(value) > MAX_DEPTH:
        raise JSONError(f"nesting deeper than {MAX_DEPTH} levels")
    # Surrogates can only come from \\uD8xx-\\uDFxx escapes (raw UTF-8 cannot hold them);
    # a pair decodes to one character, so encoding finds exactly the lone ones.
    if "\\ud" in text or "\\uD" in text:
        dumps(value)
    return value


def _depth(value: Any) -> int:
    deepest = 0
    stack = [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, level)
        if deepest > MAX_DEPTH:
            return deepest
        stack.extend((child, level + 1) for child in children)
    return deepest


def dumps(value: Any) -> bytes:
    """Compact UTF-8 JSON; a lone surrogate anywhere raises :class:`JSONError`."""
    try:
        return _encoder.encode(value).encode("utf-8")
    except UnicodeEncodeError:
        raise JSONError("string contains a lone surrogate") from None
    except ValueError as exc:
        raise JSONError(str(exc)) from None
