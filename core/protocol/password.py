"""The HELLO password hash (reference §2) and the parameters a server advertises in HI."""

from __future__ import annotations

import hashlib
import hmac
import secrets

__all__ = ["MAX_ITERATIONS", "MIN_ITERATIONS", "hash_password", "new_challenge", "verify"]

MIN_ITERATIONS = 4000
MAX_ITERATIONS = 8095


def hash_password(password: str, salt: str, iterations: int) -> str:
    """SHA-256 of password+salt, re-hashed until ``iterations`` applications; lowercase hex."""
    digest = hashlib.sha256(password.encode() + salt.encode()).digest()
    for _ in range(iterations - 1):
        digest = hashlib.sha256(digest).digest()
    return digest.hex()


def new_challenge() -> tuple[int, str]:
    """Random iterations in [4000, 8095] and a salt: hex of a random int63, unpadded, as Go."""
    iterations = MIN_ITERATIONS + secrets.randbelow(MAX_ITERATIONS - MIN_ITERATIONS + 1)
    salt = format(secrets.randbits(63), "x")
    return iterations, salt


def verify(password: str, salt: str, iterations: int, client_version: int, pwdhash: str) -> bool:
    """Check a client's ``pwdhash``; protocol v < 2 clients hash exactly once (legacy rule).

    The comparison is constant-time on the lowercase hex string, so uppercase hex fails as in
    Faktory.
    """
    rounds = iterations if client_version >= 2 else 1
    expected = hash_password(password, salt, rounds)
    return hmac.compare_digest(expected.encode(), pwdhash.encode("utf-8", "replace"))
