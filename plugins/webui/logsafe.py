"""Values from outside (paths, headers, form fields) made safe to log: control characters,
line and paragraph separators are written as escapes, so a request cannot add a line of its
own to the log (``GET /static/x%0aE%20FORGED%00``)."""

from __future__ import annotations

__all__ = ["MAX_LOGGED", "loggable"]

#: Characters of one value kept in a log line; the rest is cut (marked with …).
MAX_LOGGED = 300

_ESCAPES = {code: f"\\x{code:02x}" for code in (*range(0x20), 0x7F, *range(0x80, 0xA0))} | {
    0x2028: "\\u2028",
    0x2029: "\\u2029",
    0x5C: "\\\\",
}


def loggable(value: object) -> str:
    """``value`` as text with every control character escaped, at most MAX_LOGGED long."""
    text = value.decode("utf-8", "backslashreplace") if isinstance(value, bytes) else str(value)
    if len(text) > MAX_LOGGED:
        text = text[:MAX_LOGGED] + "…"
    return text.translate(_ESCAPES)
