"""Handshake, passwords, TLS, reconnection and the pool limit.

Restarts use the real server (same store, same port). Failures in the middle of a command need
a peer that misbehaves on cue, so :class:`ScriptedPeer` plays the server there: it greets,
accepts HELLO, then runs one scripted behaviour per connection.
"""

from __future__ import annotations

import shutil
import socket
import ssl
import subprocess
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
import faktory_core_client_test_support as support  # type: ignore[import-not-found]
import pytest

from faktory_core.client import (
    AsyncClient,
    AuthenticationError,
    Client,
    ConnectFailed,
    ConnectionLost,
    Job,
    PoolTimeout,
    ServerError,
    Settings,
)
from faktory_core.client.errors import ClientError
from faktory_core.protocol.replies import bulk

Behaviour = Callable[[socket.socket, list[bytes]], None]

# -- passwords --------------------------------------------------------------------------------


def test_password_handshake(make_server: Callable[..., Any]) -> None:
    server = make_server(password="s3cret")
    with Client(server.url) as client:
        client.push(Job("Secret"))
    assert server.stats()["queues"] == {"default": 1}


def test_password_from_faktory_url(
    make_server: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    server = make_server(password="from env")
    monkeypatch.setenv("FAKTORY_URL", f"tcp://:from%20env@127.0.0.1:{server.port}")
    with Client() as client:
        assert client.info().server.connections >= 1


def test_wrong_password_is_an_authentication_error(make_server: Callable[..., Any]) -> None:
    server = make_server(password="s3cret")
    client = Client(f"tcp://:wrong@127.0.0.1:{server.port}")
    with client, pytest.raises(AuthenticationError) as caught:
        client.info()
    assert (caught.value.code, caught.value.message) == ("ERR", "Invalid password")
    assert str(caught.value).startswith(  # names the server it tried
        f"cannot authenticate to Faktory at 127.0.0.1:{server.port}: Invalid password; check "
        "the password in FAKTORY_URL"
    )


def test_missing_password_is_refused_before_sending(make_server: Callable[..., Any]) -> None:
    server = make_server(password="s3cret")
    client = Client(f"tcp://127.0.0.1:{server.port}")
    with client, pytest.raises(AuthenticationError, match="requires a password"):
        client.info()


async def test_async_password_handshake(make_server: Callable[..., Any]) -> None:
    server = make_server(password="s3cret")
    async with AsyncClient(server.url) as client:
        await client.push(Job("Secret"))
    async with AsyncClient(f"tcp://:bad@127.0.0.1:{server.port}") as bad:
        with pytest.raises(AuthenticationError):
            await bad.info()
    assert server.stats()["queues"] == {"default": 1}


# -- reconnection after a real server restart ------------------------------------------------


@support.every_store
def test_client_reconnects_after_a_server_restart(server_process: Any) -> None:
    with Client(server_process.url) as client:
        client.push(Job("Before"))
        server_process.restart()  # the pooled connection is now closed by the old process
        client.push(Job("After"))  # not retried: the dead connection is noticed before use
        assert client.info().faktory.queues == {"default": 2}
    jobs = server_process.queue_jobs("default")
    assert sorted(j.jobtype for j in jobs) == ["After", "Before"]


@support.every_store
async def test_async_client_reconnects_after_a_server_restart(server_process: Any) -> None:
    async with AsyncClient(server_process.url) as client:
        await client.push(Job("Before"))
        await anyio.to_thread.run_sync(server_process.restart)
        await client.push(Job("After"))
        assert (await client.info()).faktory.queues == {"default": 2}


@support.every_store
def test_no_server_is_connect_failed_then_recovers(server_process: Any) -> None:
    with Client(server_process.url) as client:
        client.flush()
        server_process.stop()
        with pytest.raises(ConnectFailed):
            client.info()
        server_process.start()
        assert client.info().faktory.total_enqueued == 0


async def test_async_no_server_is_connect_failed(server: Any) -> None:
    server.stop()
    async with AsyncClient(server.url) as client:
        with pytest.raises(ConnectFailed):
            await client.push(Job("Nowhere"))


# -- mid-command failures, with a scripted peer -----------------------------------------------


class ScriptedPeer:
    """A fake server: the n-th connection runs ``behaviours[n]`` after the handshake and is
    then closed. Every command line received is recorded in :attr:`lines`."""

    def __init__(self, behaviours: list[Behaviour]) -> None:
        self.behaviours = behaviours
        self.lines: list[bytes] = []
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.release = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        for behaviour in self.behaviours:
            try:
                sock, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._session, args=(sock, behaviour), daemon=True).start()

    def _session(self, sock: socket.socket, behaviour: Behaviour) -> None:
        with sock:
            sock.sendall(b'+HI {"v":2}\r\n')
            reader = sock.makefile("rb")
            reader.readline()
            sock.sendall(b"+OK\r\n")
            lines: list[bytes] = []

            def next_line() -> bytes:
                line = reader.readline()
                lines.append(line)
                self.lines.append(line)
                return line

            behaviour(sock, [next_line()])

    @property
    def url(self) -> str:
        return f"tcp://127.0.0.1:{self.port}"

    def close(self) -> None:
        self.release.set()
        self.listener.close()


@pytest.fixture
def scripted() -> Iterator[Callable[[list[Behaviour]], ScriptedPeer]]:
    peers: list[ScriptedPeer] = []

    def make(behaviours: list[Behaviour]) -> ScriptedPeer:
        peer = ScriptedPeer(behaviours)
        peers.append(peer)
        return peer

    yield make
    for peer in peers:
        peer.close()


def hang_up(sock: socket.socket, received: list[bytes]) -> None:
    """Read the command, then close without a reply."""


def answer_info(sock: socket.socket, received: list[bytes]) -> None:
    sock.sendall(bulk(b'{"faktory":{"total_queues":7}}'))


def answer_ok(sock: socket.socket, received: list[bytes]) -> None:
    sock.sendall(b"+OK\r\n")


def test_safe_commands_are_resent_once_on_a_fresh_connection(
    scripted: Callable[[list[Behaviour]], ScriptedPeer],
) -> None:
    peer = scripted([hang_up, answer_info])
    with Client(peer.url) as client:
        assert client.info().faktory.total_queues == 7
    assert peer.lines == [b"INFO\r\n", b"INFO\r\n"]


def test_a_push_whose_reply_is_lost_is_not_resent(
    scripted: Callable[[list[Behaviour]], ScriptedPeer],
) -> None:
    peer = scripted([hang_up, answer_ok])
    with Client(peer.url) as client:
        with pytest.raises(ConnectionLost):
            client.push(Job("Once"))
        # The failed connection was dropped; the next command gets a new one.
        client.push(Job("Next"))
    assert [line.split(b" ")[0] for line in peer.lines] == [b"PUSH", b"PUSH"]
    assert b'"Next"' in peer.lines[1]


async def test_async_safe_commands_are_resent_once(
    scripted: Callable[[list[Behaviour]], ScriptedPeer],
) -> None:
    peer = scripted([hang_up, answer_info, hang_up])
    async with AsyncClient(peer.url) as client:
        assert (await client.info()).faktory.total_queues == 7
        with pytest.raises(ConnectionLost):
            await client.push(Job("Once"))
    sent = [line.split(b" ")[0].strip() for line in peer.lines]
    assert sent[:2] == [b"INFO", b"INFO"]
    # The PUSH went out at most once: on the connection the peer had closed after its INFO
    # (the client had not seen the close yet: never reaches the peer), or on a new one.
    assert sent[2:] in ([], [b"PUSH"])


def test_two_failures_in_a_row_reach_the_caller(
    scripted: Callable[[list[Behaviour]], ScriptedPeer],
) -> None:
    peer = scripted([hang_up, hang_up])
    with Client(peer.url) as client, pytest.raises(ConnectionLost):
        client.info()
    assert len(peer.lines) == 2


def test_garbage_from_the_server_is_a_protocol_error(
    scripted: Callable[[list[Behaviour]], ScriptedPeer],
) -> None:
    def garbage(sock: socket.socket, received: list[bytes]) -> None:
        sock.sendall(b"?what\r\n")

    peer = scripted([garbage])
    with Client(peer.url) as client, pytest.raises(ClientError, match="unexpected reply"):
        client.info()


def test_pool_timeout_when_every_connection_is_busy(
    scripted: Callable[[list[Behaviour]], ScriptedPeer],
) -> None:
    started = threading.Event()
    peer: ScriptedPeer

    def slow_ok(sock: socket.socket, received: list[bytes]) -> None:
        started.set()
        peer.release.wait(timeout=10)
        sock.sendall(b"+OK\r\n")

    peer = scripted([slow_ok])
    settings = Settings.from_url(peer.url, connections=1, pool_timeout=0.05)
    with Client(settings=settings) as client:
        holder = threading.Thread(target=client.flush)  # takes the only connection
        holder.start()
        assert started.wait(timeout=10)
        with pytest.raises(PoolTimeout):
            client.info()
        peer.release.set()
        holder.join(timeout=10)
    assert [line.strip() for line in peer.lines] == [b"FLUSH"]


def test_server_errors_are_client_errors(server: Any) -> None:
    with Client(server.url) as client, pytest.raises(ClientError):
        client.push(Job("Refused"))
    assert issubclass(ServerError, ClientError)


# -- TLS --------------------------------------------------------------------------------------


@pytest.fixture
def tls_dir(tmp_path: Path) -> Path:
    openssl = shutil.which("openssl")
    if openssl is None:  # pragma: no cover - openssl ships with every CI image we use
        pytest.fail("the TLS test needs the openssl command")
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-keyout", str(tmp_path / "private.key.pem"), "-out", str(tmp_path / "public.cert.pem"),
         "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
        check=True, capture_output=True,
    )  # fmt: skip
    return tmp_path


def test_tls(tls_dir: Path, make_server: Callable[..., Any]) -> None:
    server = make_server(config_dir=tls_dir, password="pw")
    context = ssl.create_default_context(cafile=str(tls_dir / "public.cert.pem"))
    url = f"tcp+tls://:pw@127.0.0.1:{server.port}"
    with Client(url, ssl_context=context) as client:
        client.push(Job("Encrypted"))

    async def push_async() -> None:
        async with AsyncClient(url, ssl_context=context) as aclient:
            await aclient.push(Job("Encrypted"))

    anyio.run(push_async)
    assert [j.jobtype for j in server.queue_jobs("default")] == ["Encrypted", "Encrypted"]
    # Without trusting the self-signed certificate, the connection is refused.
    with Client(url) as untrusting, pytest.raises(ConnectFailed):
        untrusting.info()
