"""Encoders for the RESP subset the server sends (reference §1.2). Each returns bytes."""

from __future__ import annotations

__all__ = ["NULL", "OK", "bulk", "error", "integer", "simple"]

OK = b"+OK\r\n"
NULL = b"$-1\r\n"


def simple(text: str) -> bytes:
    return b"+" + text.encode() + b"\r\n"


def bulk(data: bytes) -> bytes:
    return b"$%d\r\n%b\r\n" % (len(data), data)


def integer(value: int) -> bytes:
    return b":%d\r\n" % value


def error(wire_text: str) -> bytes:
    """``-ERR message`` or ``-CODE message``; ``wire_text`` already carries the code.

    Error replies are one line: any CR or LF (a payload echoed back) becomes a space.
    """
    if "\r" in wire_text or "\n" in wire_text:
        wire_text = wire_text.replace("\r", " ").replace("\n", " ")
    return b"-" + wire_text.encode("utf-8", "backslashreplace") + b"\r\n"
