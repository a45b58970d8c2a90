"""Who may connect: the Authenticator seam and Faktory's password check, a built-in plugin."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import anyio.to_thread
import attrs

from faktory_core.config import Config
from faktory_core.hookspecs import hookimpl
from faktory_core.protocol import password as pw
from faktory_core.protocol.events import Hello

__all__ = ["Authenticator", "Challenge", "PasswordAuthenticator"]

#: (iterations, salt) advertised in ``+HI``; None means no password is asked for.
Challenge = tuple[int, str] | None


@runtime_checkable
class Authenticator(Protocol):
    def challenge(self) -> Challenge:
        """The hash parameters to put in this connection's greeting (fresh per connection)."""
        ...

    async def authenticate(self, hello: Hello, challenge: Challenge) -> bool:
        """True to accept the HELLO; False answers ``-ERR Invalid password`` and closes."""
        ...


@attrs.frozen
class PasswordAuthenticator:
    """Faktory's rule (§2): no password, everyone is in; else the client's ``pwdhash`` must
    match, hashed once for protocol v < 2 clients. Compared in constant time.

    The hash (4,000-8,095 rounds of SHA-256, ~5 ms) runs in a worker thread, not on the event
    loop every other client is served from."""

    password: str = ""

    def challenge(self) -> Challenge:
        return pw.new_challenge() if self.password else None

    async def authenticate(self, hello: Hello, challenge: Challenge) -> bool:
        if challenge is None:
            return not self.password
        iterations, salt = challenge
        ok: bool = await anyio.to_thread.run_sync(
            pw.verify, self.password, salt, iterations, hello.version, hello.pwdhash
        )
        return ok


@hookimpl(trylast=True)
def faktory_core_make_authenticator(config: Config) -> Authenticator:
    return PasswordAuthenticator(config.password)
