"""The HELLO password hash (reference §2) and the challenge a server advertises."""

from __future__ import annotations

import hashlib
import re

import pytest

from faktory_core.protocol.password import (
    MAX_ITERATIONS,
    MIN_ITERATIONS,
    hash_password,
    new_challenge,
    verify,
)

SALT = "55104dc76695721d"
HASH_1545 = "6d877f8e5544b1f2598768f817413ab8a357afffa924dedae99eb91472d4ec30"
HASH_1 = "bda5ef54df4404655456165c27f46764614a296cdafcaffc747b7ab7cc1ea313"


def test_vector_from_faktorys_tests() -> None:
    assert hash_password("foobar", SALT, 1545) == HASH_1545


def test_vector_with_one_iteration() -> None:
    assert hash_password("foobar", SALT, 1) == HASH_1
    assert hashlib.sha256(b"foobar" + SALT.encode()).hexdigest() == HASH_1


@pytest.mark.parametrize("iterations", [0, -1, -100])
def test_fewer_than_one_iteration_is_one(iterations: int) -> None:
    assert hash_password("foobar", SALT, iterations) == HASH_1


@pytest.mark.parametrize("iterations", [2, 3, 10, 4000])
def test_chained_sha256(iterations: int) -> None:
    digest = hashlib.sha256(b"pw" + b"salt").digest()
    for _ in range(iterations - 1):
        digest = hashlib.sha256(digest).digest()  # the raw digest, not its hex
    assert hash_password("pw", "salt", iterations) == digest.hex()


def test_hash_is_lowercase_hex() -> None:
    value = hash_password("foobar", SALT, 4000)
    assert re.fullmatch("[0-9a-f]{64}", value)


def test_password_is_utf8() -> None:
    # Go's []byte(string) is the UTF-8 encoding.
    expected = hashlib.sha256("p\u00e4ss".encode() + b"00ff").hexdigest()
    assert hash_password("p\u00e4ss", "00ff", 1) == expected


def test_new_challenge() -> None:
    seen_iterations = set()
    for _ in range(2000):
        iterations, salt = new_challenge()
        assert MIN_ITERATIONS <= iterations <= MAX_ITERATIONS
        assert re.fullmatch("[0-9a-f]{1,16}", salt), salt
        assert salt == "0" or not salt.startswith("0")
        assert int(salt, 16) < 2**63  # hex of an int63
        seen_iterations.add(iterations)
    assert len(seen_iterations) > 1000  # really random, over the whole range


def test_iteration_bounds_are_gos() -> None:
    # rand.Intn(4096) + 4000
    assert MIN_ITERATIONS == 4000
    assert MAX_ITERATIONS == 4000 + 4096 - 1


@pytest.mark.parametrize(
    ("version", "pwdhash", "ok"),
    [
        (2, HASH_1545, True),
        (2, HASH_1545.upper(), False),  # uppercase hex fails, as in Faktory
        (2, HASH_1545[:32].upper() + HASH_1545[32:], False),
        (2, HASH_1, False),
        (2, "", False),
        (2, " " + HASH_1545, False),
        (3, HASH_1545, True),
        (255, HASH_1545, True),
        (1, HASH_1, True),  # v < 2 clients hash once
        (0, HASH_1, True),
        (1, HASH_1545, False),
        (0, HASH_1.upper(), False),
        (2, "\udcff" * 64, False),  # unencodable text does not crash the comparison
        (2, "\u00e9" * 32, False),
    ],
)
def test_verify(version: int, pwdhash: str, ok: bool) -> None:
    assert verify("foobar", SALT, 1545, version, pwdhash) is ok


def test_verify_wrong_password_or_salt() -> None:
    assert not verify("foobaz", SALT, 1545, 2, HASH_1545)
    assert not verify("foobar", SALT[:-1], 1545, 2, HASH_1545)
    assert not verify("foobar", SALT, 1546, 2, HASH_1545)
