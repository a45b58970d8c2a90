"""Log lines as Faktory writes them: ``<L> <UTC time> <message>`` (reference §10.6).

``L`` is one of D, I, W, E, F (debug, info, warn, error, fatal/critical); the time is UTC with
milliseconds, e.g. ``I 2024-05-01T12:00:00.123Z listening on localhost:7419``.

One record is one line: control characters in the message (a client's jid, queue name, wid or
request path may hold ``\n``, ``\r``, NUL or an escape sequence) are escaped by the formatter,
so nobody can forge a log line. Code that writes outside values elsewhere (an access log, a
page) can call :func:`printable` itself.
"""

from __future__ import annotations

import logging
import re
import time
from typing import TextIO

__all__ = ["LEVELS", "format_line", "printable", "setup_logging"]

LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warn": logging.WARNING,
    "error": logging.ERROR,
}

_LETTERS = {
    logging.DEBUG: "D",
    logging.INFO: "I",
    logging.WARNING: "W",
    logging.ERROR: "E",
    logging.CRITICAL: "F",
}


#: C0 controls, DEL, C1 controls and the Unicode line/paragraph separators.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    if char in _NAMED:
        return _NAMED[char]
    return f"\\x{ord(char):02x}" if ord(char) < 0x100 else f"\\u{ord(char):04x}"


def printable(value: object) -> str:
    """``str(value)`` with every control character escaped (``\\n``, ``\\x00``, ``\\u2028``):
    safe to write on one log line whatever a client sent."""
    text = value if isinstance(value, str) else str(value)
    return _CONTROL.sub(_escape, text) if _CONTROL.search(text) else text


def format_line(record: logging.LogRecord) -> str:
    """One log record as Faktory's ``<L> <2006-01-02T15:04:05.000Z> <message>``."""
    letter = _LETTERS.get(record.levelno, record.levelname[:1])
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
    return f"{letter} {stamp}.{int(record.msecs):03d}Z {printable(record.getMessage())}"


class _FaktoryFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = format_line(record)
        if record.exc_info:
            line += "\n" + indented(self.formatException(record.exc_info))
        return line


#: Every line of a traceback starts with this: an exception message that carries a client's
#: text (with its own line breaks) cannot start a line that looks like a log record.
TRACEBACK_INDENT = "    "


def indented(text: str) -> str:
    """A multi-line text (a traceback) for the log: each line indented and made printable."""
    return "\n".join(TRACEBACK_INDENT + printable(part) for part in text.split("\n"))


def setup_logging(level: str = "info", stream: TextIO | None = None) -> None:
    """Send the ``faktory_core`` loggers to ``stream`` (default stderr) at ``level`` (``-l``)."""
    handler = logging.StreamHandler(stream)
    handler.setFormatter(_FaktoryFormatter())
    root = logging.getLogger("faktory_core")
    root.handlers[:] = [handler]
    root.setLevel(LEVELS[level])
    root.propagate = False
