"""The connection states of the FWP handshake and the transitions between them, in one table.

::

    AWAIT_HELLO --HELLO line ok--> HELLO_RECEIVED --accept--> READY --END/EOF--> CLOSED
         |                               |
         +--bad line, EOF, timeout-------+--reject (bad password)--> CLOSED
"""

from __future__ import annotations

import enum

__all__ = ["TRANSITIONS", "LocalProtocolError", "State", "transition"]


class State(enum.Enum):
    AWAIT_HELLO = "await_hello"
    HELLO_RECEIVED = "hello_received"
    READY = "ready"
    CLOSED = "closed"


class LocalProtocolError(RuntimeError):
    """Our side tried a transition the table does not allow: a bug in the caller."""


TRANSITIONS: dict[tuple[State, str], State] = {
    (State.AWAIT_HELLO, "hello"): State.HELLO_RECEIVED,
    (State.AWAIT_HELLO, "close"): State.CLOSED,
    (State.HELLO_RECEIVED, "accept"): State.READY,
    (State.HELLO_RECEIVED, "reject"): State.CLOSED,
    (State.HELLO_RECEIVED, "close"): State.CLOSED,
    (State.READY, "close"): State.CLOSED,
    (State.CLOSED, "close"): State.CLOSED,
}


def transition(state: State, event: str) -> State:
    try:
        return TRANSITIONS[(state, event)]
    except KeyError:
        raise LocalProtocolError(f"cannot {event!r} in state {state.name}") from None
