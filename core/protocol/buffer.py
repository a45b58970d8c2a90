"""A receive buffer that yields CRLF/LF-terminated lines and exact byte counts, with a size cap."""

from __future__ import annotations

__all__ = ["DEFAULT_MAX_LINE", "LineBuffer", "LineTooLong"]

#: decisions.md: Faktory has no limit; we cap a command line at 16 MiB by default.
DEFAULT_MAX_LINE = 16 * 1024 * 1024
#: After taking at least this much, the rest is copied to a fresh buffer, so a connection
#: that once sent 16 MiB does not keep 16 MiB while it idles.
SHRINK_AFTER = 256 * 1024


class LineTooLong(Exception):
    """More than ``max_line`` bytes arrived without a line terminator."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"line longer than {limit} bytes")
        self.limit = limit


class LineBuffer:
    """Accumulates received bytes; hands out whole lines without their terminator.

    ``_buf[_pos:]`` is what has not been taken. A read that arrives when everything before it
    was taken becomes the buffer as it is (a ``bytes``, not copied: the lines are sliced out of
    it, one copy each); only a line that spans reads is gathered in a ``bytearray``. Most
    commands arrive whole in one read, so most cost one slice (issue 20).
    """

    __slots__ = ("_buf", "_pos", "_scanned", "max_line")

    def __init__(self, max_line: int = DEFAULT_MAX_LINE) -> None:
        self._buf: bytes | bytearray = b""
        self._pos = 0
        #: The cap on one line; the owner may change it (e.g. raise it after the handshake).
        self.max_line = max_line
        # _buf[_pos:_scanned] has no b"\n": a line arriving in many small reads is scanned once.
        self._scanned = 0

    def __len__(self) -> int:
        return len(self._buf) - self._pos

    def over_limit(self) -> bool:
        """True when more than a line's cap is buffered: stop reading until lines are taken."""
        return len(self._buf) - self._pos > self.max_line

    def feed(self, data: bytes) -> None:
        if not data:
            return
        buf = self._buf
        if self._pos == len(buf):
            self._buf = data if type(data) is bytes else bytes(data)
            self._pos = self._scanned = 0
        elif self._pos or type(buf) is bytes:
            # A line spans reads: gather it (without what was taken) in a bytearray.
            rest = bytearray(memoryview(buf)[self._pos :])
            rest += data
            self._scanned -= self._pos
            self._buf, self._pos = rest, 0
        else:
            buf += data  # a bytearray, grown in place

    def next_line(self) -> bytes | None:
        """The next complete line (``\\r\\n`` or ``\\n`` stripped), or None if none is complete.

        Raises :class:`LineTooLong` once the pending line exceeds the cap, whether or not its
        terminator has arrived, so a peer cannot make us buffer without bound.
        """
        buf, pos = self._buf, self._pos
        end = buf.find(b"\n", self._scanned)
        if end < 0:
            self._scanned = len(buf)
            # A trailing CR may be the first half of the terminator: not yet part of the line.
            pending = len(buf) - pos - (1 if buf.endswith(b"\r") else 0)
            if pending > self.max_line:
                raise LineTooLong(self.max_line)
            return None
        stop = end - 1 if end > pos and buf[end - 1] == 13 else end
        if stop - pos > self.max_line:
            raise LineTooLong(self.max_line)
        line = buf[pos:stop]
        if end + 1 == len(buf):
            self._buf, self._pos, self._scanned = b"", 0, 0
        else:
            self._advance(end + 1)
        return line if type(line) is bytes else bytes(line)

    def _advance(self, pos: int) -> None:
        """Take ``_buf[:pos]``."""
        buf = self._buf
        if pos == len(buf):
            self._buf, self._pos, self._scanned = b"", 0, 0
        elif pos >= SHRINK_AFTER:
            # Do not keep a long line's memory for the short rest: copy the rest.
            self._buf = buf[pos:]
            self._scanned = max(self._scanned - pos, 0)
            self._pos = 0
        else:
            self._pos = pos
            self._scanned = max(self._scanned, pos)

    def read_exact(self, count: int) -> bytes | None:
        """``count`` bytes if that many are buffered, else None (for RESP bulk bodies)."""
        if len(self._buf) - self._pos < count:
            return None
        data = bytes(self._buf[self._pos : self._pos + count])
        self._advance(self._pos + count)
        return data
