"""Redis glob patterns (``MATCH`` of SCAN/ZSCAN), byte for byte as Redis's ``stringmatchlen``.

MUTATE's ``regexp`` filter is such a glob (reference §3.9), so every store must match it the
way Redis does. The pattern is compiled once to a Python bytes regex.
"""

from __future__ import annotations

import functools
import re

__all__ = ["MAX_GLOB_BYTES", "GlobTooLong", "check_glob", "compile_glob", "glob_match"]

#: The longest glob accepted (MUTATE's ``regexp``). Compiling costs a few µs a byte on the event
#: loop (the regex compiler is Python code), so an unbounded pattern stalled every client: 400
#: KB took 3 s. 4 KiB compiles in about 10 ms; Faktory has no limit (docs/running.md, Limits).
MAX_GLOB_BYTES = 4096


class GlobTooLong(ValueError):
    """A glob longer than :data:`MAX_GLOB_BYTES`; the text says so, for the client."""


def check_glob(pattern: bytes) -> None:
    """Raise :class:`GlobTooLong` for a pattern over :data:`MAX_GLOB_BYTES`."""
    if len(pattern) > MAX_GLOB_BYTES:
        raise GlobTooLong(
            f"regexp is {len(pattern)} bytes long: at most {MAX_GLOB_BYTES} bytes are accepted"
        )


@functools.lru_cache(maxsize=256)
def compile_glob(pattern: bytes) -> re.Pattern[bytes]:
    """The glob as an anchored bytes regex; one pass over the pattern, literal runs escaped
    together (linear; the regex compiler's own cost is what :data:`MAX_GLOB_BYTES` bounds)."""
    check_glob(pattern)
    # The pattern is split at its '*'s into segments of one-byte atoms.
    segments: list[list[bytes]] = [[]]
    literal = bytearray()

    def flush() -> None:
        if literal:
            segments[-1].append(re.escape(bytes(literal)))
            literal.clear()

    i, n = 0, len(pattern)
    while i < n:
        char = pattern[i]
        if char == 0x2A:  # '*'
            flush()
            segments.append([])
        elif char == 0x3F:  # '?'
            flush()
            segments[-1].append(b".")
        elif char == 0x5B:  # '['
            flush()
            cls, i = _char_class(pattern, i + 1)
            segments[-1].append(cls)
            continue
        elif char == 0x5C and i + 1 < n:  # '\\' escapes the next byte
            i += 1
            literal.append(pattern[i])
        else:
            literal.append(char)
        i += 1
    flush()
    if len(segments) == 1:
        return re.compile(b"".join(segments[0]) + rb"\Z", re.DOTALL)
    first, *middle, last = [b"".join(parts) for parts in segments]
    # Every segment has a fixed width, so its leftmost match after the previous one is always
    # a right choice: commit to it (atomic group) instead of backtracking. Plain ".*" for each
    # '*' is exponential ("*a*a*a*a*a*b" on a long string of a's), which is what Redis's
    # skipLongerMatches avoids.
    body = b"".join(b"(?>.*?" + segment + b")" for segment in middle if segment)
    return re.compile(first + body + b".*" + last + rb"\Z", re.DOTALL)


def _char_class(pattern: bytes, i: int) -> tuple[bytes, int]:
    """Parse a class after '['; returns the regex and the index just past it.

    As Redis: ``^`` negates, ``\\x`` is literal, ``a-z`` is a range (reversed bounds are
    swapped), ``]`` ends it, and an unterminated class runs to the end of the pattern.
    """
    n = len(pattern)
    negate = i < n and pattern[i] == 0x5E
    if negate:
        i += 1
    members: list[bytes] = []
    while i < n and pattern[i] != 0x5D:
        if pattern[i] == 0x5C and i + 1 < n:
            i += 1
            members.append(_class_byte(pattern[i]))
        elif i + 2 < n and pattern[i + 1] == 0x2D:  # range "a-z"
            low, high = sorted((pattern[i], pattern[i + 2]))
            members.append(_class_byte(low) + b"-" + _class_byte(high))
            i += 2
        else:
            members.append(_class_byte(pattern[i]))
        i += 1
    end = i + 1 if i < n else n
    if not members:
        return (b"." if negate else b"(?!)"), end
    return b"[" + (b"^" if negate else b"") + b"".join(members) + b"]", end


def _class_byte(value: int) -> bytes:
    return b"\\x%02x" % value


def glob_match(pattern: bytes, data: bytes) -> bool:
    if not data:
        # stringmatchlen never matches an empty string (not even with "*") unless the pattern
        # is empty too; ZSCAN skips matching altogether when the pattern is exactly "*".
        return pattern in (b"", b"*")
    return compile_glob(pattern).match(data) is not None
