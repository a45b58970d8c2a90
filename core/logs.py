"""Log lines as Faktory writes them: ``<L> <UTC time> <message>`` (reference §10.6)."""

from __future__ import annotations

import logging
import time

__all__ = ["LEVELS", "setup_logging"]

LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warn": logging.WARNING,
    "error": logging.ERROR,
}


class _FaktoryFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        millis = int(record.msecs)
        line = f"{record.levelname[0]} {stamp}.{millis:03d}Z {record.getMessage()}"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def setup_logging(level: str = "info") -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(_FaktoryFormatter())
    root = logging.getLogger("faktory_core")
    root.handlers[:] = [handler]
    root.setLevel(LEVELS[level])
    root.propagate = False
