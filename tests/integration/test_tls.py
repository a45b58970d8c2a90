"""Native TLS (reference §10.5): the pem pair in the config directory turns TLS on."""

from __future__ import annotations

import shutil
import socket
import ssl
import subprocess
from pathlib import Path

import pytest

from faktory_core.clock import SystemClock
from faktory_core.plugins.memory_store import MemoryStore
from faktory_core.protocol import ReplyParser, SimpleString, parse_hi
from faktory_core.protocol.events import NEED_DATA
from faktory_core.server.app import make_tls_context
from faktory_core.testing.server import ServerThread


@pytest.fixture
def pem_dir(tmp_path: Path) -> Path:
    """A throwaway self-signed key pair for 127.0.0.1."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.fail("the TLS tests need the openssl command")
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-keyout", str(tmp_path / "private.key.pem"), "-out", str(tmp_path / "public.cert.pem"),
         "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True,
    )  # fmt: skip
    return tmp_path


def _read_reply(sock: socket.socket) -> object:
    parser = ReplyParser()
    while (reply := parser.next_reply()) is NEED_DATA:
        data = sock.recv(65536)
        assert data, "closed before a reply"
        parser.receive_data(data)
    return reply


def test_tls_handshake_and_commands(pem_dir: Path) -> None:
    context = ssl.create_default_context(cafile=str(pem_dir / "public.cert.pem"))
    with ServerThread(MemoryStore(SystemClock()), config_dir=pem_dir) as thread:
        raw = socket.create_connection(("127.0.0.1", thread.port), timeout=10)
        with context.wrap_socket(raw, server_hostname="127.0.0.1") as sock:
            assert sock.version() in ("TLSv1.2", "TLSv1.3")
            assert parse_hi(_read_reply(sock)).version == 2  # type: ignore[arg-type]
            sock.sendall(b'HELLO {"v":2}\r\n')
            assert _read_reply(sock) == SimpleString("OK")
            sock.sendall(b'PUSH {"jid":"tls-job-0001","jobtype":"T","args":[]}\r\n')
            assert _read_reply(sock) == SimpleString("OK")
            # TLS keeps anyio's stream for reading and writing (no direct writer, no PlainReader).
            assert thread.server is not None
            (connection,) = thread.server.connections
            assert connection.direct is None
            assert connection.reader is None


def test_plaintext_client_on_a_tls_port_is_closed_without_a_greeting(pem_dir: Path) -> None:
    with (
        ServerThread(MemoryStore(SystemClock()), config_dir=pem_dir) as thread,
        socket.create_connection(("127.0.0.1", thread.port), timeout=10) as sock,
    ):
        sock.sendall(b'HELLO {"v":2}\r\n')
        received = b""
        while chunk := sock.recv(4096):
            received += chunk
        assert b"+HI" not in received
        assert b"+OK" not in received


def test_one_file_missing_means_plaintext(pem_dir: Path) -> None:
    (pem_dir / "private.key.pem").unlink()
    assert make_tls_context(pem_dir) is None


def test_an_unreadable_pair_is_an_error_at_start(tmp_path: Path) -> None:
    (tmp_path / "private.key.pem").write_text("not a key")
    (tmp_path / "public.cert.pem").write_text("not a certificate")
    with pytest.raises(ValueError, match="cannot use the TLS key pair"):
        make_tls_context(tmp_path)
