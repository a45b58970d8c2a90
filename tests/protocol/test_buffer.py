"""LineBuffer: lines out of a byte stream, whatever the chunking, with a length cap."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from faktory_core.protocol.buffer import DEFAULT_MAX_LINE, LineBuffer, LineTooLong

TRAILING = b"TRAIL"


def _drain(buffer: LineBuffer, out: list[object]) -> bool:
    """Append every complete line to ``out``; False once the cap is hit."""
    while True:
        try:
            line = buffer.next_line()
        except LineTooLong as exc:
            out.append(("too long", exc.limit))
            return False
        if line is None:
            return True
        out.append(line)


def _lines(data: bytes, mode: str, max_line: int) -> list[object]:
    """Lines from ``data`` fed whole, byte by byte, or whole followed by trailing data."""
    buffer = LineBuffer(max_line)
    out: list[object] = []
    trailing = mode == "trailing" and data.endswith(b"\n")
    if mode == "bytewise":
        chunks = [data[i : i + 1] for i in range(len(data))]
    else:
        chunks = [data + TRAILING] if trailing else [data]
    for chunk in chunks:
        buffer.feed(chunk)
        if not _drain(buffer, out):
            return out
    if trailing:
        # The trailing bytes were left in the buffer, intact.
        assert len(buffer) == len(TRAILING)
        buffer.feed(b"\r\n")
        assert buffer.next_line() == TRAILING
    return out


def lines_three_ways(data: bytes, max_line: int = 64) -> list[object]:
    results = [_lines(data, mode, max_line) for mode in ("whole", "bytewise", "trailing")]
    assert results[0] == results[1] == results[2]
    return results[0]


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"PUSH {}\r\n", [b"PUSH {}"]),
        (b"PUSH {}\n", [b"PUSH {}"]),
        (b"\r\n", [b""]),
        (b"\n", [b""]),
        (b"a\r\nb\nc\r\n", [b"a", b"b", b"c"]),
        (b"a\rb\r\n", [b"a\rb"]),  # a CR inside a line is data
        (b"a\r\r\n", [b"a\r"]),  # only one CR belongs to the terminator
        (b"\r", []),
        (b"no terminator", []),
        (b"one\r\ntwo", [b"one"]),
        (b"\x00\xff\xfe\r\n", [b"\x00\xff\xfe"]),
    ],
)
def test_lines(data: bytes, expected: list[bytes]) -> None:
    assert lines_three_ways(data) == expected


def test_nothing_buffered() -> None:
    buffer = LineBuffer()
    assert buffer.next_line() is None
    assert len(buffer) == 0


def test_a_line_in_many_reads() -> None:
    buffer = LineBuffer()
    for piece in (b"PU", b"SH ", b"{", b"}", b"\r"):
        buffer.feed(piece)
        assert buffer.next_line() is None
    buffer.feed(b"\nFETCH")
    assert buffer.next_line() == b"PUSH {}"
    assert buffer.next_line() is None
    assert len(buffer) == len(b"FETCH")
    buffer.feed(b" default\n")
    assert buffer.next_line() == b"FETCH default"


def test_len_counts_buffered_bytes() -> None:
    buffer = LineBuffer()
    buffer.feed(b"abc\r\nde")
    assert len(buffer) == 7
    assert buffer.next_line() == b"abc"
    assert len(buffer) == 2


def test_feed_empty_bytes_is_harmless() -> None:
    buffer = LineBuffer()
    buffer.feed(b"")
    assert buffer.next_line() is None
    buffer.feed(b"x\n")
    assert buffer.next_line() == b"x"


# -- read_exact ---------------------------------------------------------------------------------


def test_read_exact() -> None:
    buffer = LineBuffer()
    buffer.feed(b"0123")
    assert buffer.read_exact(5) is None
    assert len(buffer) == 4  # nothing consumed
    buffer.feed(b"4567")
    assert buffer.read_exact(5) == b"01234"
    assert buffer.read_exact(0) == b""
    assert buffer.read_exact(3) == b"567"
    assert len(buffer) == 0


def test_read_exact_does_not_care_about_newlines() -> None:
    buffer = LineBuffer(max_line=4)
    buffer.feed(b"a\r\nb\r\n\r\n")
    assert buffer.read_exact(6) == b"a\r\nb\r\n"
    assert buffer.next_line() == b""


def test_read_exact_is_not_capped_by_max_line() -> None:
    buffer = LineBuffer(max_line=4)
    buffer.feed(b"x" * 100)
    assert buffer.read_exact(100) == b"x" * 100


def test_read_exact_after_a_partial_scan() -> None:
    # next_line remembers how far it searched; read_exact must reset that.
    buffer = LineBuffer()
    buffer.feed(b"abc")
    assert buffer.next_line() is None
    assert buffer.read_exact(2) == b"ab"
    buffer.feed(b"\ndef\n")
    assert buffer.next_line() == b"c"
    assert buffer.next_line() == b"def"


def test_lines_and_exact_reads_interleaved() -> None:
    buffer = LineBuffer()
    buffer.feed(b"$5\r\nhello\r\n+OK\r\n")
    assert buffer.next_line() == b"$5"
    assert buffer.read_exact(7) == b"hello\r\n"
    assert buffer.next_line() == b"+OK"
    assert buffer.next_line() is None


# -- the line-length cap ------------------------------------------------------------------------


def test_default_cap_is_16_mib() -> None:
    assert DEFAULT_MAX_LINE == 16 * 1024 * 1024


@pytest.mark.parametrize("terminator", [b"\r\n", b"\n"])
def test_a_line_of_exactly_the_limit_is_fine(terminator: bytes) -> None:
    line = b"x" * 16
    assert lines_three_ways(line + terminator, max_line=16) == [line]


def test_a_line_of_exactly_the_limit_waiting_for_its_lf() -> None:
    # The CR may be the first half of CRLF: no error until we know the line is longer.
    assert lines_three_ways(b"x" * 16 + b"\r", max_line=16) == []
    assert lines_three_ways(b"x" * 16, max_line=16) == []


@pytest.mark.parametrize(
    "data",
    [
        b"x" * 17 + b"\r\n",  # terminated
        b"x" * 17 + b"\n",
        b"x" * 17,  # no terminator (yet): stop buffering anyway
        b"x" * 16 + b"\r\r",  # CR inside the line makes it 17 bytes
        b"x" * 16 + b"\rx",
        b"x" * 1000,
    ],
)
def test_a_line_over_the_limit(data: bytes) -> None:
    assert lines_three_ways(data, max_line=16) == [("too long", 16)]


def test_a_long_line_after_a_good_one() -> None:
    data = b"ok\r\n" + b"y" * 20 + b"\r\n"
    assert lines_three_ways(data, max_line=16) == [b"ok", ("too long", 16)]


def test_many_short_lines_are_not_one_long_line() -> None:
    data = b"abcdefgh\r\n" * 50
    assert lines_three_ways(data, max_line=8) == [b"abcdefgh"] * 50


def test_line_too_long_exception() -> None:
    exc = LineTooLong(1024)
    assert exc.limit == 1024
    assert str(exc) == "line longer than 1024 bytes"


# -- any chunking, any mix of lines and exact reads (the buffer's bytes/bytearray/offset paths) --


@given(
    items=st.lists(
        st.tuples(st.booleans(), st.binary(max_size=40).map(lambda b: b.replace(b"\n", b""))),
        max_size=20,
    ),
    crlf=st.lists(st.booleans(), min_size=20, max_size=20),
    cuts=st.lists(st.integers(min_value=0, max_value=2000), max_size=30),
)
def test_any_chunking_gives_the_same_lines_and_reads(
    items: list[tuple[bool, bytes]], crlf: list[bool], cuts: list[int]
) -> None:
    """Lines (some CRLF, some LF) and exact reads, fed in arbitrary pieces and taken as soon as
    complete, come out as written; ``len`` is always what was fed minus what was taken."""
    wire = b""
    expected: list[bytes] = []
    for (exact, body), cr in zip(items, crlf, strict=False):
        if exact:
            wire += body
            expected.append(body)
        else:
            wire += body + (b"\r\n" if cr else b"\n")
            # A CR just before a bare LF is the terminator's: the line ends before it.
            expected.append(body[:-1] if not cr and body.endswith(b"\r") else body)
    points = sorted({min(cut, len(wire)) for cut in cuts} | {0, len(wire)})
    buffer = LineBuffer()
    got: list[bytes] = []
    fed = taken = 0
    pending = list(zip(items, crlf, strict=False))
    for start, stop in [(0, 0), *itertools.pairwise(points)]:
        buffer.feed(wire[start:stop])
        fed += stop - start
        while pending:
            (exact, body), cr = pending[0]
            if exact:
                data = buffer.read_exact(len(body))
                size = len(body)
            else:
                data = buffer.next_line()
                size = len(body) + (2 if cr else 1)
            if data is None:
                break
            got.append(data)
            taken += size
            pending.pop(0)
            assert len(buffer) == fed - taken
    assert got == expected
    assert len(buffer) == 0
