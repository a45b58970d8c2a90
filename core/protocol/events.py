"""Events the server-side engine produces from received bytes."""

from __future__ import annotations

from typing import NamedTuple

import attrs

__all__ = ["NEED_DATA", "Command", "ConnectionClosed", "Hello", "LineTooLongEvent", "NeedData"]


@attrs.frozen
class Hello:
    """A well-formed ``HELLO {...}`` (reference §2, step 4). Not yet authenticated."""

    version: int = 0
    pwdhash: str = ""
    wid: str = ""
    hostname: str = ""
    pid: int = 0
    labels: tuple[str, ...] = ()
    username: str = ""


class Command(NamedTuple):
    """One command line after the handshake.

    ``payload`` is everything after the first space, or None when the line has no space
    (Faktory slices at a fixed offset there, which is its ``-ERR internal error``).

    A named tuple, not an attrs class like the other events: one is made per command, and a
    tuple is the cheapest immutable value to make (issue 20).
    """

    verb: str
    payload: bytes | None


@attrs.frozen
class ConnectionClosed:
    """The peer closed, or broke the handshake: close without a reply."""

    reason: str = ""


@attrs.frozen
class LineTooLongEvent:
    """A line exceeded the cap: answer the error, then close."""

    limit: int


class NeedData:
    """More bytes are needed before another event can be produced."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "NEED_DATA"


NEED_DATA = NeedData()
