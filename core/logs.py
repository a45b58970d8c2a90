"""Log lines as Faktory writes them: ``<L> <UTC time> <message>`` (reference §10.6).

``L`` is one of D, I, W, E, F (debug, info, warn, error, fatal/critical); the time is UTC with
milliseconds, e.g. ``I 2024-05-01T12:00:00.123Z listening on localhost:7419``.
"""

from __future__ import annotations

import logging
import time
from typing import TextIO

__all__ = ["LEVELS", "format_line", "setup_logging"]

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


def format_line(record: logging.LogRecord) -> str:
    """One log record as Faktory's ``<L> <2006-01-02T15:04:05.000Z> <message>``."""
    letter = _LETTERS.get(record.levelno, record.levelname[:1])
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
    return f"{letter} {stamp}.{int(record.msecs):03d}Z {record.getMessage()}"


class _FaktoryFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = format_line(record)
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def setup_logging(level: str = "info", stream: TextIO | None = None) -> None:
    """Send the ``faktory_core`` loggers to ``stream`` (default stderr) at ``level`` (``-l``)."""
    handler = logging.StreamHandler(stream)
    handler.setFormatter(_FaktoryFormatter())
    root = logging.getLogger("faktory_core")
    root.handlers[:] = [handler]
    root.setLevel(LEVELS[level])
    root.propagate = False
