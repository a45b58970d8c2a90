"""Messages that say what to do: the address that could not be reached, a URL without a scheme,
a password to percent-encode, the web UI's port, a dict pushed instead of a Job (a refused
password naming the server: test_connections.py)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from faktory_core.client import (
    AsyncClient,
    Client,
    ClientError,
    ConfigError,
    ConnectFailed,
    Job,
    Settings,
)
from faktory_core.clock import SystemClock
from faktory_core.plugins import webui
from faktory_core.plugins.memory_store import MemoryStore
from tests.webui.support import serving

USUAL = "Faktory takes commands on port 7419 and serves its web UI on 7420"


def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (bound, then closed)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


# -- the address ---------------------------------------------------------------------------------


def test_a_refused_connection_names_host_and_port() -> None:
    port = closed_port()
    with Client(f"tcp://127.0.0.1:{port}") as client, pytest.raises(ConnectFailed) as raised:
        client.info()
    assert str(raised.value) == (
        f"cannot connect to Faktory at 127.0.0.1:{port}: connection refused "
        "(is the server running, on that port?)"
    )


async def test_async_a_refused_connection_names_host_and_port() -> None:
    port = closed_port()
    async with AsyncClient(f"tcp://127.0.0.1:{port}") as client:
        with pytest.raises(ConnectFailed, match=f"at 127.0.0.1:{port}: connection refused"):
            await client.info()


def test_an_unknown_host_is_named() -> None:
    with (
        Client("tcp://no-such-host.invalid:7419") as client,
        pytest.raises(ConnectFailed) as raised,
    ):
        client.info()
    assert str(raised.value).startswith(
        "cannot connect to Faktory at no-such-host.invalid:7419: unknown host ("
    )


# -- the URL -------------------------------------------------------------------------------------


@pytest.mark.parametrize("url", ["localhost:7419", "127.0.0.1:7419", "localhost"])
def test_a_url_without_a_scheme_suggests_tcp(url: str) -> None:
    with pytest.raises(ConfigError) as raised:
        Settings.from_url(url)
    assert str(raised.value) == (
        f"the Faktory URL {url!r} has no scheme: write tcp://{url} (or tcp+tls://… for TLS)"
    )


def test_a_url_without_a_scheme_hides_its_password() -> None:
    with pytest.raises(ConfigError) as raised:
        Settings.from_url(":s3cret@localhost:7419")
    assert "s3cret" not in str(raised.value)
    assert "tcp://:***@localhost:7419" in str(raised.value)


def test_an_unknown_scheme_names_the_ones_we_speak() -> None:
    with pytest.raises(ConfigError, match="use tcp:// or tcp\\+tls://"):
        Settings.from_url("redis://localhost:6379")


@pytest.mark.parametrize(
    ("url", "found"),
    [
        ("tcp://:pa:ss@localhost:7419", ": as %3A"),
        ("tcp://:pa/ss@localhost:7419", "/ as %2F"),
        ("tcp://:p@ss@localhost:7419", "@ as %40"),
        ("tcp+tls://user:a:b/c@host:7419", ": as %3A, / as %2F"),
    ],
)
def test_a_password_with_url_characters_must_be_percent_encoded(url: str, found: str) -> None:
    with pytest.raises(ConfigError) as raised:
        Settings.from_url(url)
    message = str(raised.value)
    assert "must be percent-encoded" in message
    assert found in message
    assert "urllib.parse.quote(password, safe='')" in message


def test_the_percent_encoded_password_is_decoded() -> None:
    assert Settings.from_url("tcp://:p%40ss%3Aw%2Fd@localhost:7419").password == "p@ss:w/d"


def test_a_url_without_a_scheme_in_faktory_url_stops_the_worker_command(tmp_path: Path) -> None:
    """Through the real command: FAKTORY_URL=localhost:7419 exits 1 with the suggestion."""
    (tmp_path / "app.py").write_text("from faktory_core.worker import Worker\nworker = Worker()\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("FAKTORY_")}
    env["FAKTORY_URL"] = "localhost:7419"
    done = subprocess.run(
        [str(Path(sys.executable).parent / "faktory-core"), "worker", "app:worker"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 1
    assert "write tcp://localhost:7419" in done.stderr


# -- the web UI's port ---------------------------------------------------------------------------


async def test_the_web_uis_port_is_recognised_and_the_usual_ports_named(tmp_path: Path) -> None:
    clock = SystemClock()
    async with serving(MemoryStore(clock), clock, tmp_path) as server:
        port = webui.web_port(server)
        settings = Settings(host="127.0.0.1", port=port, greeting_timeout=0.5)
        async with AsyncClient(settings=settings) as client:
            with pytest.raises(ConnectFailed) as raised:
                await client.info()
    assert str(raised.value) == (
        f"cannot connect to Faktory at 127.0.0.1:{port}: no answer within 0.5 s, without the "
        f"+HI greeting a Faktory server sends first. Is that the web UI's port? {USUAL}"
    )


def test_a_silent_port_is_recognised_by_the_blocking_client() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        settings = Settings(host="127.0.0.1", port=port, greeting_timeout=0.2)
        with Client(settings=settings) as client, pytest.raises(ConnectFailed) as raised:
            client.info()
    assert "no answer within 0.2 s" in str(raised.value)
    assert USUAL in str(raised.value)


def test_a_peer_that_answers_something_else_is_named() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]

        def answer() -> None:
            peer, _ = listener.accept()
            with peer:
                peer.sendall(b"HTTP/1.1 400 Bad Request\r\n\r\n")

        thread = threading.Thread(target=answer)
        thread.start()
        with Client(f"tcp://127.0.0.1:{port}") as client, pytest.raises(ClientError) as raised:
            client.info()
        thread.join()
    message = str(raised.value)
    assert message.startswith(f"cannot connect to Faktory at 127.0.0.1:{port}: ")
    assert USUAL in message


# -- a dict instead of a Job ---------------------------------------------------------------------


PAYLOAD = {"jobtype": "SendEmail", "args": ["ada@example.com"]}


def test_pushing_a_dict_says_to_build_a_job() -> None:
    client = Client(f"tcp://127.0.0.1:{closed_port()}")  # nothing is sent
    with pytest.raises(TypeError) as raised:
        client.push(PAYLOAD)  # type: ignore[arg-type]
    assert str(raised.value).startswith("push() takes a Job, not a dict: build one with Job(")
    assert "Job(**payload)" in str(raised.value)
    with pytest.raises(TypeError, match="push_bulk\\(\\) takes a Job, not a dict"):
        client.push_bulk([Job("SendEmail"), PAYLOAD])  # type: ignore[list-item]
    assert Job(**PAYLOAD).to_dict()["args"] == ["ada@example.com"]  # the advice works


async def test_async_pushing_a_dict_says_to_build_a_job() -> None:
    async with AsyncClient(f"tcp://127.0.0.1:{closed_port()}") as client:
        with pytest.raises(TypeError, match="push\\(\\) takes a Job, not a dict"):
            await client.push(PAYLOAD)  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="push_bulk\\(\\) takes a Job, not a str"):
            await client.push_bulk(["SendEmail"])  # type: ignore[list-item]
