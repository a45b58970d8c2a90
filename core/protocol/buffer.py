"""A receive buffer that yields CRLF/LF-terminated lines and exact byte counts, with a size cap."""

from __future__ import annotations

__all__ = ["DEFAULT_MAX_LINE", "LineBuffer", "LineTooLong"]

#: decisions.md: Faktory has no limit; we cap a command line at 16 MiB by default.
DEFAULT_MAX_LINE = 16 * 1024 * 1024


class LineTooLong(Exception):
    """More than ``max_line`` bytes arrived without a line terminator."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"line longer than {limit} bytes")
        self.limit = limit


class LineBuffer:
    """Accumulates received bytes; hands out whole lines without their terminator."""

    __slots__ = ("_buf", "_max_line", "_scanned")

    def __init__(self, max_line: int = DEFAULT_MAX_LINE) -> None:
        self._buf = bytearray()
        self._max_line = max_line
        # Bytes already searched for b"\n": a line arriving in many small reads is scanned once.
        self._scanned = 0

    def __len__(self) -> int:
        return len(self._buf)

    def feed(self, data: bytes) -> None:
        self._buf += data

    def next_line(self) -> bytes | None:
        """The next complete line (``\\r\\n`` or ``\\n`` stripped), or None if none is complete.

        Raises :class:`LineTooLong` once the pending line exceeds the cap, whether or not its
        terminator has arrived, so a peer cannot make us buffer without bound.
        """
        buf = self._buf
        end = buf.find(b"\n", self._scanned)
        if end < 0:
            self._scanned = len(buf)
            # A trailing CR may be the first half of the terminator: not yet part of the line.
            pending = len(buf) - 1 if buf.endswith(b"\r") else len(buf)
            if pending > self._max_line:
                raise LineTooLong(self._max_line)
            return None
        self._scanned = 0
        stop = end - 1 if end > 0 and buf[end - 1] == 13 else end
        if stop > self._max_line:
            raise LineTooLong(self._max_line)
        line = bytes(buf[:stop])
        # bytearray deletes from the front in O(1) amortised (CPython moves its start offset).
        del buf[: end + 1]
        return line

    def read_exact(self, count: int) -> bytes | None:
        """``count`` bytes if that many are buffered, else None (for RESP bulk bodies)."""
        if len(self._buf) < count:
            return None
        data = bytes(self._buf[:count])
        del self._buf[:count]
        self._scanned = 0
        return data
