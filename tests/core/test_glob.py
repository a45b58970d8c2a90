"""Redis glob matching (SCAN ... MATCH), checked against a port of Redis's stringmatchlen."""

from __future__ import annotations

import itertools
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from faktory_core.glob import MAX_GLOB_BYTES, GlobTooLong, check_glob, compile_glob, glob_match

STAR, QUESTION, OPEN, CLOSE, CARET, DASH, BACKSLASH = b"*?[]^-\\"


def redis_stringmatch(pattern: bytes, string: bytes) -> bool:
    """A line-by-line port of ``stringmatchlen_impl`` (redis/src/util.c), case-sensitive.

    Reads past the end of the pattern see a NUL, as the C code does on its sds strings.
    """
    skip_longer_matches = False

    def at(index: int) -> int:
        return pattern[index] if index < len(pattern) else 0

    def impl(p: int, s: int, nesting: int) -> bool:
        nonlocal skip_longer_matches
        if nesting > 1000:
            return False
        plen, slen = len(pattern) - p, len(string) - s
        while plen and slen:
            char = pattern[p]
            if char == STAR:
                while plen and at(p + 1) == STAR:
                    p, plen = p + 1, plen - 1
                if plen == 1:
                    return True
                while slen:
                    if impl(p + 1, s, nesting + 1):
                        return True
                    if skip_longer_matches:
                        return False
                    s, slen = s + 1, slen - 1
                skip_longer_matches = True
                return False
            if char == QUESTION:
                s, slen = s + 1, slen - 1
            elif char == OPEN:
                p, plen = p + 1, plen - 1
                negate = at(p) == CARET
                if negate:
                    p, plen = p + 1, plen - 1
                match = False
                while True:
                    if at(p) == BACKSLASH and plen >= 2:
                        p, plen = p + 1, plen - 1
                        if pattern[p] == string[s]:
                            match = True
                    elif at(p) == CLOSE:
                        break
                    elif plen == 0:
                        p, plen = p - 1, plen + 1
                        break
                    elif plen >= 3 and pattern[p + 1] == DASH:
                        start, end = pattern[p], pattern[p + 2]
                        if start > end:
                            start, end = end, start
                        p, plen = p + 2, plen - 2
                        if start <= string[s] <= end:
                            match = True
                    elif pattern[p] == string[s]:
                        match = True
                    p, plen = p + 1, plen - 1
                if negate:
                    match = not match
                if not match:
                    return False
                s, slen = s + 1, slen - 1
            else:
                if char == BACKSLASH and plen >= 2:
                    p, plen = p + 1, plen - 1
                if pattern[p] != string[s]:
                    return False
                s, slen = s + 1, slen - 1
            p, plen = p + 1, plen - 1
            if slen == 0:
                while at(p) == STAR:
                    p, plen = p + 1, plen - 1
                break
        return plen == 0 and slen == 0

    return impl(0, 0, 0)


def zscan_match(pattern: bytes, member: bytes) -> bool:
    """What ``ZSCAN ... MATCH pattern`` keeps: everything for ``*``, else stringmatchlen."""
    return pattern == b"*" or redis_stringmatch(pattern, member)


CASES: list[tuple[bytes, bytes, bool]] = [
    # '*' and '?'
    (b"", b"", True),
    (b"", b"a", False),
    (b"*", b"", True),  # ZSCAN does not even match for "*"
    (b"*", b"anything at all", True),
    (b"**", b"", False),  # stringmatchlen never matches an empty string
    (b"?*", b"", False),
    (b"***", b"abc", True),
    (b"a*", b"a", True),
    (b"a*", b"abc", True),
    (b"a*", b"ba", False),
    (b"*c", b"abc", True),
    (b"*c", b"abcd", False),
    (b"a*c", b"ac", True),
    (b"a*c", b"abbbc", True),
    (b"a*c", b"ab", False),
    (b"a**b", b"ab", True),
    (b"a*b*c", b"aXbYc", True),
    (b"a*b*c", b"aXcYb", False),
    (b"*a*a*b", b"aab", True),
    (b"*a*a*b", b"abab", True),
    (b"*a*a*b", b"abb", False),
    (b"?", b"", False),
    (b"?", b"a", True),
    (b"?", b"\n", True),
    (b"?", b"\xff", True),
    (b"??", b"a", False),
    (b"a?c", b"abc", True),
    (b"a?c", b"ac", False),
    (b"*?", b"", False),
    (b"*?", b"x", True),
    # literals, case and regex metacharacters
    (b"abc", b"abc", True),
    (b"abc", b"ABC", False),
    (b"abc", b"abcd", False),
    (b"a.c", b"abc", False),
    (b"a.c", b"a.c", True),
    (b"(a)+", b"(a)+", True),
    (b"a|b", b"a", False),
    (b"$^", b"$^", True),
    (b"\x00\xff", b"\x00\xff", True),
    # classes
    (b"h[ae]llo", b"hello", True),
    (b"h[ae]llo", b"hallo", True),
    (b"h[ae]llo", b"hillo", False),
    (b"h[ae]llo", b"hllo", False),
    (b"h[^e]llo", b"hallo", True),
    (b"h[^e]llo", b"hello", False),
    (b"h[^e]llo", b"hllo", False),
    (b"h[a-b]llo", b"hbllo", True),
    (b"h[a-b]llo", b"hcllo", False),
    (b"[a-c-e]", b"-", True),  # after a range, '-' is a literal
    (b"[z-a]", b"m", True),  # reversed bounds are swapped
    (b"[z-a]", b"A", False),
    (b"[^z-a]", b"m", False),
    (b"[-a]", b"-", True),
    (b"[a-]", b"-", False),  # "a-]" is the range ']'..'a' and the class runs on
    (b"[a-]", b"_", True),
    (b"[a-]", b"]", True),
    (b"[]", b"", False),  # the empty class matches nothing
    (b"[]", b"a", False),
    (b"[]", b"]", False),
    (b"[]]", b"]", False),
    (b"[]]", b"]]", False),
    (b"a[]", b"a", False),
    (b"[^]", b"a", True),  # and its negation any one byte
    (b"[^]", b"]", True),
    (b"[^]", b"", False),
    (b"[^]", b"ab", False),
    (b"[^]]", b"a]", True),
    (b"[*]", b"*", True),
    (b"[*]", b"a", False),
    (b"[?]", b"a", False),
    (b"[[]", b"[", True),
    (b"[.]", b"a", False),
    (b"[^^]", b"^", False),
    (b"[a^]", b"^", True),
    # escapes
    (b"\\*", b"*", True),
    (b"\\*", b"a", False),
    (b"\\?", b"?", True),
    (b"\\?", b"a", False),
    (b"\\[a]", b"[a]", True),
    (b"\\a", b"a", True),
    (b"\\\\", b"\\", True),
    (b"a\\", b"a\\", True),  # a trailing backslash is a literal
    (b"\\", b"\\", True),
    (b"\\", b"", False),
    (b"[\\]]", b"]", True),
    (b"[\\]]", b"\\", False),
    (b"[\\]", b"]", True),  # unterminated: the escaped ']' is a member
    (b"[\\]", b"\\", False),
    (b"[\\^a]", b"^", True),
    (b"[a\\-z]", b"-", True),  # an escaped '-' is not a range
    (b"[a\\-z]", b"b", False),
    (b"[\\", b"\\", True),  # a lone trailing backslash in a class is a literal
    (b"[a-\\]", b"_", True),  # range 'a'..'\\' swapped: '\\'..'a'
    # unterminated classes run to the end of the pattern
    (b"[abc", b"a", True),
    (b"[abc", b"ab", False),
    (b"[", b"a", False),
    (b"[", b"", False),
    (b"[^", b"a", True),
    (b"[^a", b"b", True),
    (b"[^a", b"a", False),
    (b"ab[", b"ab", False),
    (b"*[", b"abc", False),
    (b"x[a*", b"x*", True),
    # what MUTATE's filters look like
    (b'*"jobtype":"SpecialType"*', b'{"jid":"abc","jobtype":"SpecialType","args":[]}', True),
    (b'*"jobtype":"SpecialType"*', b'{"jid":"abc","jobtype":"OtherType","args":[]}', False),
    (b"*uid:123*", b'{"args":["uid:123"]}', True),
    (b"*uid:1234*", b'{"args":["uid:123"]}', False),
]


@pytest.mark.parametrize(("pattern", "string", "expected"), CASES)
def test_glob_match(pattern: bytes, string: bytes, expected: bool) -> None:
    assert zscan_match(pattern, string) is expected  # the oracle agrees with the table
    assert glob_match(pattern, string) is expected


def test_exhaustive_short_patterns_agree_with_redis() -> None:
    pattern_alphabet = [bytes([c]) for c in b"ab*?[]^-\\"]
    string_alphabet = [bytes([c]) for c in b"ab-]"]
    strings = [
        b"".join(chars)
        for size in range(4)
        for chars in itertools.product(string_alphabet, repeat=size)
    ]
    for size in range(4):
        for chars in itertools.product(pattern_alphabet, repeat=size):
            pattern = b"".join(chars)
            for string in strings:
                assert glob_match(pattern, string) is zscan_match(pattern, string), (
                    pattern,
                    string,
                )


@settings(max_examples=500, deadline=None, derandomize=True)
@given(
    pattern=st.lists(
        st.sampled_from([b"a", b"b", b"*", b"?", b"[", b"]", b"^", b"-", b"\\"]), max_size=12
    ).map(b"".join),
    string=st.lists(st.sampled_from([b"a", b"b", b"-", b"]", b"\\", b"*"]), max_size=12).map(
        b"".join
    ),
)
def test_random_patterns_agree_with_redis(pattern: bytes, string: bytes) -> None:
    assert glob_match(pattern, string) is zscan_match(pattern, string)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(
    pieces=st.lists(st.sampled_from([b"*", b"ab", b"a", b"?", b"[ab]", b"[^a]"]), max_size=8),
    string=st.binary(max_size=16).map(
        lambda data: data.translate(bytes(b"ab"[i % 2] for i in range(256)))
    ),
)
def test_star_heavy_patterns_agree_with_redis(pieces: list[bytes], string: bytes) -> None:
    pattern = b"".join(pieces)
    assert glob_match(pattern, string) is zscan_match(pattern, string)


def test_pathological_pattern_finishes() -> None:
    # Plain ".*" per '*' backtracks exponentially here (a client-chosen MUTATE glob could
    # stall the server); Redis's skipLongerMatches stops early, and so must we.
    pattern = b"*a" * 30 + b"*b"
    assert not glob_match(pattern, b"a" * 500)
    assert glob_match(pattern, b"a" * 500 + b"b")
    assert not glob_match(b"*?" * 40 + b"[]", b"x" * 500)


def test_compiled_patterns_are_cached() -> None:
    assert compile_glob(b"*cached*") is compile_glob(b"*cached*")


def test_match_is_anchored_at_both_ends() -> None:
    assert not glob_match(b"b", b"abc")
    assert not glob_match(b"abc", b"abc\n")
    assert glob_match(b"abc*", b"abc\n")


# -- the length bound (issue 13: a 400 KB glob stalled the event loop for 3 s) ------------------


def test_a_glob_at_the_limit_compiles_and_agrees_with_redis() -> None:
    literal = b"job-0123456789.(x)|{y}+$^ " * MAX_GLOB_BYTES
    pattern = (b"*" + literal)[:MAX_GLOB_BYTES]
    assert len(pattern) == MAX_GLOB_BYTES
    check_glob(pattern)
    string = b"prefix" + pattern[1:]
    assert glob_match(pattern, string) is redis_stringmatch(pattern, string) is True
    assert glob_match(pattern, string[:-1]) is redis_stringmatch(pattern, string[:-1]) is False


@pytest.mark.parametrize(
    "pattern", [b"a" * (MAX_GLOB_BYTES + 1), b"*a" * 200_000, b"[ab]" * 100_000]
)
def test_a_longer_glob_is_refused_with_its_length(pattern: bytes) -> None:
    with pytest.raises(GlobTooLong, match=f"regexp is {len(pattern)} bytes long: at most 4096"):
        check_glob(pattern)
    with pytest.raises(GlobTooLong):
        compile_glob(pattern)


def test_literal_runs_are_escaped_whole() -> None:
    # One regex atom per literal byte, escaped together: the same as byte by byte.
    assert (
        compile_glob(b"a.b(c)*d|e").pattern
        == re.escape(b"a.b(c)") + b".*" + re.escape(b"d|e") + rb"\Z"
    )
    assert glob_match(b"\\*\\?x", b"*?x")
    assert not glob_match(b"\\*\\?x", b"a?x")
