"""Where the server is and how to talk to it: one frozen :class:`Settings`, read once.

Precedence, highest first:

1. arguments (``url=``, ``password=``, ``connections=``, ...);
2. ``FAKTORY_PROVIDER``: the *name* of the variable that holds the URL (it must not contain
   ``:``, so a URL put there by mistake is refused rather than half-used);
3. ``FAKTORY_URL``;
4. ``tcp://localhost:7419``.

URLs look like ``tcp://:password@host:7419`` or ``tcp+tls://host:7419``; the port defaults to
7419. The pool size comes from ``connections=`` or ``FAKTORY_CONNECTIONS`` (default 10).
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote, urlsplit

import attrs

from faktory_core.client.errors import ConfigError

__all__ = [
    "DEFAULT_CONNECTIONS",
    "DEFAULT_GREETING_TIMEOUT",
    "DEFAULT_PORT",
    "DEFAULT_URL",
    "Settings",
]

DEFAULT_URL = "tcp://localhost:7419"
DEFAULT_PORT = 7419
DEFAULT_CONNECTIONS = 10
#: Faktory greets at once; an HTTP server on the port stays silent (uvicorn closes after 5 s).
DEFAULT_GREETING_TIMEOUT = 4.0
_SCHEMES = {"tcp": False, "tcp+tls": True}
#: Characters a URL's password cannot hold as they are, with their percent-encoding.
_MUST_ENCODE = {":": "%3A", "/": "%2F", "@": "%40", "?": "%3F", "#": "%23"}


def _check_connections(_: object, __: object, value: int) -> None:
    if value < 1:
        raise ConfigError(f"the pool needs at least one connection, not {value}")


@attrs.frozen
class Settings:
    """Everything needed to open connections to one server.

    ``timeout`` bounds every read and write (it must exceed the server's 2 s FETCH block);
    ``connect_timeout`` bounds opening a connection and its handshake; ``greeting_timeout`` is
    how long to wait for the ``+HI`` a Faktory server sends at once (silence means something
    else listens there, such as the web UI); ``pool_timeout`` is how long a caller waits for a
    pooled connection to become free.
    """

    host: str = "localhost"
    port: int = DEFAULT_PORT
    password: str | None = None
    tls: bool = False
    ssl_context: ssl.SSLContext | None = attrs.field(default=None, eq=False, repr=False)
    connections: int = attrs.field(default=DEFAULT_CONNECTIONS, validator=_check_connections)
    timeout: float = 30.0
    connect_timeout: float = 10.0
    greeting_timeout: float = DEFAULT_GREETING_TIMEOUT
    pool_timeout: float = 30.0

    @classmethod
    def from_url(cls, url: str, **overrides: Any) -> Settings:
        """Parse ``tcp://:password@host:port`` / ``tcp+tls://...``; keyword overrides win."""
        _check_url(url)
        parts = urlsplit(url)
        try:
            port = parts.port or DEFAULT_PORT
        except ValueError as exc:
            raise ConfigError(f"bad port in Faktory URL {_redacted(url)!r}") from exc
        password = unquote(parts.password) if parts.password is not None else None
        parsed = cls(
            host=parts.hostname or "localhost",
            port=port,
            password=password or None,
            tls=_SCHEMES[parts.scheme],
        )
        return attrs.evolve(parsed, **{k: v for k, v in overrides.items() if v is not None})

    @classmethod
    def from_env(
        cls,
        url: str | None = None,
        *,
        environ: Mapping[str, str] | None = None,
        **overrides: Any,
    ) -> Settings:
        """Settings from ``url`` or the environment (see the module docstring)."""
        env = os.environ if environ is None else environ
        if overrides.get("connections") is None:
            overrides["connections"] = _pool_size(env)
        return cls.from_url(url or _url_from(env), **overrides)

    @property
    def greeting_seconds(self) -> float:
        """The greeting wait, within the connect timeout."""
        return min(self.greeting_timeout, self.connect_timeout)

    def with_pool(self, connections: int) -> Settings:
        return attrs.evolve(self, connections=connections)

    def make_ssl_context(self) -> ssl.SSLContext | None:
        """The TLS context to connect with, or None for plain TCP."""
        if not self.tls:
            return None
        return self.ssl_context or ssl.create_default_context()


def _redacted(url: str) -> str:
    """The URL with its password (everything before the last ``@``) hidden, to quote it."""
    head, sep, rest = url.partition("://")
    _, at, host = (rest if sep else head).rpartition("@")
    if not at:
        return url
    return f"{head}{sep}:***@{host}" if sep else f":***@{host}"


def _check_url(url: str) -> None:
    """A scheme we speak, and a password that needs no percent-encoding left undone."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise ConfigError(
            f"the Faktory URL {_redacted(url)!r} has no scheme: write "
            f"tcp://{_redacted(url)} (or tcp+tls://… for TLS)"
        )
    if scheme not in _SCHEMES:
        raise ConfigError(
            f"unsupported Faktory URL scheme {scheme!r} in {_redacted(url)!r}: use tcp:// or "
            "tcp+tls://"
        )
    userinfo, at, _ = rest.rpartition("@")
    password = userinfo.partition(":")[2] if ":" in userinfo else userinfo
    found = [char for char in _MUST_ENCODE if char in password]
    if at and found:
        codes = ", ".join(f"{char} as {_MUST_ENCODE[char]}" for char in found)
        raise ConfigError(
            f"the password in the Faktory URL contains {' '.join(found)}, which must be "
            f"percent-encoded in a URL: write {codes} (in Python, urllib.parse.quote(password, "
            "safe='')), e.g. tcp://:p%40ss%3Aword@localhost:7419"
        )


def _url_from(env: Mapping[str, str]) -> str:
    provider = env.get("FAKTORY_PROVIDER")
    if provider is not None:
        if ":" in provider:
            raise ConfigError(
                "FAKTORY_PROVIDER is not a URL: it is the name of the environment variable that "
                "holds the URL, e.g. FAKTORY_PROVIDER=FOO_URL and FOO_URL=tcp://:pw@host:7419"
            )
        if provider not in env:
            raise ConfigError(f"FAKTORY_PROVIDER names {provider!r}, which is not set")
        return env[provider]
    return env.get("FAKTORY_URL") or DEFAULT_URL


def _pool_size(env: Mapping[str, str]) -> int:
    raw = env.get("FAKTORY_CONNECTIONS")
    if not raw:
        return DEFAULT_CONNECTIONS
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"FAKTORY_CONNECTIONS must be a number, not {raw!r}") from None
