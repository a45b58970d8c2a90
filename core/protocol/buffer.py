"""A receive buffer that yields CRLF/LF-terminated lines and exact byte counts, with a size cap."""

from __future__ import annotations

__all__ = ["DEFAULT_MAX_LINE", "LineBuffer", "LineTooLong"]

#: decisions.md: Faktory has no limit; we cap a command line at 16 MiB by default.
DEFAULT_MAX_LINE = 16 * 1024 * 1024
#: After taking a line at least this long, the rest is copied to a fresh buffer, so a
#: connection that once sent 16 MiB does not keep 16 MiB of capacity while it idles.
SHRINK_AFTER = 256 * 1024


class LineTooLong(Exception):
    """More than ``max_line`` bytes arrived without a line terminator."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"line longer than {limit} bytes")
        self.limit = limit


class LineBuffer:
    """Accumulates received bytes; hands out whole lines without their terminator."""

    __slots__ = ("_buf", "_scanned", "max_line")

    def __init__(self, max_line: int = DEFAULT_MAX_LINE) -> None:
        self._buf = bytearray()
        #: The cap on one line; the owner may change it (e.g. raise it after the handshake).
        self.max_line = max_line
        # Bytes already searched for b"\n": a line arriving in many small reads is scanned once.
        self._scanned = 0

    def __len__(self) -> int:
        return len(self._buf)

    def over_limit(self) -> bool:
        """True when more than a line's cap is buffered: stop reading until lines are taken."""
        return len(self._buf) > self.max_line

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
            if pending > self.max_line:
                raise LineTooLong(self.max_line)
            return None
        self._scanned = 0
        stop = end - 1 if end > 0 and buf[end - 1] == 13 else end
        if stop > self.max_line:
            raise LineTooLong(self.max_line)
        line = bytes(buf[:stop])
        self._consume(end + 1)
        return line

    def _consume(self, count: int) -> None:
        if count >= SHRINK_AFTER:
            # A bytearray keeps its capacity: copy the (usually short) rest to let it go.
            self._buf = bytearray(self._buf[count:])
        else:
            # bytearray deletes from the front in O(1) amortised (CPython moves its start).
            del self._buf[:count]

    def read_exact(self, count: int) -> bytes | None:
        """``count`` bytes if that many are buffered, else None (for RESP bulk bodies)."""
        if len(self._buf) < count:
            return None
        data = bytes(self._buf[:count])
        self._consume(count)
        self._scanned = 0
        return data
