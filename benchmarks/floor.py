"""The floor: what one FWP request/reply costs a CPython server that does nothing else.

    .venv/bin/python benchmarks/floor.py --port 7500 &   # or --anyio, --anyio --direct; then:
    .venv/bin/python benchmarks/loadgen.py push fetch-ack -n 20000 -c 4 --port 7500 --server-pid PID

A uvloop ``asyncio.Protocol`` that speaks just enough FWP for ``loadgen.py``: ``HI`` on connect,
``+OK`` to HELLO, PUSH (the payload kept as bytes in a deque per queue, the queue found by a byte
search, no JSON decoded), FETCH (pops one and sends it back as it came), ACK (counts it), INFO
(the queue sizes and ``total_processed`` loadgen checks), END. PUSHB is decoded and each job
re-encoded: it is there for loadgen's fill before ``fetch-ack``, and not a floor itself.

No validation, no storage, no journal, no timestamps, no reservation: one read, one write and
the event loop's wake-up per command, plus the fewest Python lines that can answer. It is not a
server anyone should run. It is the lower bound, on this machine, of the server CPU per job of
any FWP server written in CPython on uvloop -- the figure issue 20's targets are compared with
in docs/performance.md.

``--anyio`` answers the same through anyio's streams, ``--anyio --direct`` reads through anyio
and writes to the transport (the server's edge today). ``--redis-server BINARY`` is the floor
of a Redis-backed server: each PUSH an LPUSH, each FETCH an RPOP, each ACK an INCR, on one
pipelined link to a child Redis with the Redis store's settings.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import hiredis
import uvloop

from faktory_core.plugins.redis_store.supervisor import redis_conf

_OK = b"+OK\r\n"
_NULL = b"$-1\r\n"


class Floor(asyncio.Protocol):
    queues: dict[bytes, collections.deque[bytes]] = {}
    processed = 0

    def __init__(self) -> None:
        self.buffer = b""
        self.transport: Any = None

    def connection_made(self, transport: Any) -> None:
        self.transport = transport  # uvloop's transports are not asyncio.Transport subclasses
        transport.write(b'+HI {"v":2}\r\n')

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer + data if self.buffer else data
        out = []
        start = 0
        while True:
            end = buffer.find(b"\r\n", start)
            if end < 0:
                break
            out.append(self.answer(buffer[start:end]))
            start = end + 2
        self.buffer = buffer[start:]
        if out and self.transport is not None:
            self.transport.write(b"".join(out))

    def queue(self, name: bytes) -> collections.deque[bytes]:
        found = self.queues.get(name)
        if found is None:
            found = self.queues[name] = collections.deque()
        return found

    def answer(self, line: bytes) -> bytes:
        verb, _, rest = line.partition(b" ")
        if verb == b"PUSH":
            at = rest.find(b'"queue":"') + 9
            queue = rest[at : rest.index(b'"', at)] if at > 8 else b"default"
            self.queue(queue).append(rest)
            return _OK
        if verb == b"FETCH":
            for queue in rest.split():
                found = self.queues.get(queue)
                if found:
                    job = found.popleft()
                    return b"$%d\r\n%s\r\n" % (len(job), job)
            return _NULL
        if verb == b"ACK":
            Floor.processed += 1
            return _OK
        if verb == b"INFO":
            sizes = {q.decode(): len(d) for q, d in self.queues.items()}
            body = json.dumps(
                {"faktory": {"queues": sizes, "total_processed": Floor.processed}}
            ).encode()
            return b"$%d\r\n%s\r\n" % (len(body), body)
        if verb == b"END":
            if self.transport is not None:
                self.transport.close()
            return b""
        if verb == b"PUSHB":  # loadgen's fill before fetch-ack: decoded, not measured
            for job in json.loads(rest):
                self.queue(job.get("queue", "default").encode()).append(json.dumps(job).encode())
            return b"$2\r\n{}\r\n"
        return _OK  # HELLO, BEAT, FLUSH


async def serve_anyio(port: int, direct: bool) -> None:
    """The same answers through anyio's streams (a task per connection, ``receive`` and
    ``send``), as the server's edge was before issue 20: what anyio adds to the floor. With
    ``direct``, replies go to the asyncio transport under the stream (as the server's
    ``direct_writer`` does) and only reading goes through anyio."""
    import anyio
    import anyio.abc

    async def handle(stream: anyio.abc.SocketStream) -> None:
        floor = Floor()
        floor.transport = _Sink(stream)
        await stream.send(b'+HI {"v":2}\r\n')
        async with stream:
            while True:
                try:
                    data = await stream.receive(65536)
                except (anyio.EndOfStream, anyio.BrokenResourceError):
                    return
                floor.data_received(data)
                if floor.transport.out:
                    if direct:
                        stream._transport.write(b"".join(floor.transport.out))  # type: ignore[attr-defined]
                    else:
                        await stream.send(b"".join(floor.transport.out))
                    floor.transport.out.clear()

    listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=port)
    print(f"floor: pid {os.getpid()} on 127.0.0.1:{port} (anyio)", flush=True)
    await listener.serve(handle)


class _Sink:
    def __init__(self, stream: Any) -> None:
        self.stream, self.out = stream, []

    def write(self, data: bytes) -> None:
        self.out.append(data)

    def close(self) -> None:
        pass


class RedisLink(asyncio.Protocol):
    """One pipelined connection to Redis: commands written as they come, each reply handed to
    the callback given with its command, in order (hiredis parses)."""

    def __init__(self) -> None:
        self.reader = hiredis.Reader()
        self.waiting: collections.deque[Any] = collections.deque()
        self.transport: Any = None

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.reader.feed(data)
        while (reply := self.reader.gets()) is not False:
            self.waiting.popleft()(reply)

    def call(self, done: Any, *args: bytes) -> None:
        parts = [b"*%d\r\n" % len(args)]
        for arg in args:
            parts.append(b"$%d\r\n%s\r\n" % (len(arg), arg))
        self.transport.write(b"".join(parts))
        self.waiting.append(done)


class RedisFloor(Floor):
    """PUSH is an LPUSH of the payload, FETCH an RPOP, ACK an INCR: a Redis round trip per
    command, answered when Redis answers (loadgen sends one command at a time per connection,
    so replies stay in order). INFO reads the sizes from Redis."""

    link: RedisLink

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer + data if self.buffer else data
        start = 0
        while (end := buffer.find(b"\r\n", start)) >= 0:
            self.ask(buffer[start:end])
            start = end + 2
        self.buffer = buffer[start:]

    def ask(self, line: bytes) -> None:
        verb, _, rest = line.partition(b" ")
        write, link = self.transport.write, self.link
        if verb == b"PUSH":
            at = rest.find(b'"queue":"') + 9
            queue = rest[at : rest.index(b'"', at)] if at > 8 else b"default"
            self.queue(queue)
            link.call(lambda _: write(_OK), b"LPUSH", b"queue:" + queue, rest)
        elif verb == b"FETCH":
            queue = rest.split()[0]  # loadgen fetches from one queue

            def fetched(job: bytes | None) -> None:
                write(_NULL if job is None else b"$%d\r\n%s\r\n" % (len(job), job))

            link.call(fetched, b"RPOP", b"queue:" + queue)
        elif verb == b"ACK":
            link.call(lambda _: write(_OK), b"INCR", b"processed")
        elif verb == b"PUSHB":
            jobs = json.loads(rest)
            for job in jobs:
                queue = job.get("queue", "default").encode()
                self.queue(queue)
                link.call(lambda _: None, b"LPUSH", b"queue:" + queue, json.dumps(job).encode())
            link.call(lambda _: write(b"$2\r\n{}\r\n"), b"PING")
        elif verb == b"INFO":
            names = list(self.queues)
            sizes: dict[str, int] = {}

            def sized(name: bytes) -> Any:
                return lambda size: sizes.__setitem__(name.decode(), size)

            for name in names:
                link.call(sized(name), b"LLEN", b"queue:" + name)

            def answer(processed: bytes | None) -> None:
                body = json.dumps(
                    {"faktory": {"queues": sizes, "total_processed": int(processed or 0)}}
                ).encode()
                write(b"$%d\r\n%s\r\n" % (len(body), body))

            link.call(answer, b"GET", b"processed")
        elif verb == b"END":
            self.transport.close()
        else:
            write(_OK)


def serve_redis(port: int, binary: str) -> None:
    """The Redis floor: a valkey/redis-server child with the Redis store's settings (AOF on,
    everysec; on a Unix socket), one pipelined link to it shared by all connections."""
    folder = tempfile.mkdtemp(prefix="floor-redis-")
    socket = os.path.join(folder, "redis.sock")
    conf = os.path.join(folder, "redis.conf")
    Path(conf).write_text(redis_conf(appendonly=True) + f"unixsocket {socket}\ndir {folder}\n")
    child = subprocess.Popen([binary, conf], stdout=subprocess.DEVNULL)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # so the child is stopped too
    try:
        for _ in range(100):
            if os.path.exists(socket):
                break
            time.sleep(0.05)
        uvloop.run(_serve_redis(port, socket, child.pid))
    finally:
        child.terminate()
        child.wait()
        shutil.rmtree(folder, ignore_errors=True)


async def _serve_redis(port: int, socket: str, child: int) -> None:
    loop = asyncio.get_running_loop()
    _, link = await loop.create_unix_connection(RedisLink, socket)
    RedisFloor.link = link
    server = await loop.create_server(RedisFloor, "127.0.0.1", port)
    print(f"floor: pid {os.getpid()} on 127.0.0.1:{port} (redis {child})", flush=True)
    async with server:
        await server.serve_forever()


async def serve(port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(Floor, "127.0.0.1", port)
    print(f"floor: pid {os.getpid()} on 127.0.0.1:{port}", flush=True)
    async with server:
        await server.serve_forever()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=7500)
    parser.add_argument("--anyio", action="store_true", help="anyio streams, not a Protocol")
    parser.add_argument("--direct", action="store_true", help="with --anyio: write directly")
    parser.add_argument("--redis-server", help="a valkey/redis-server binary: the Redis floor")
    options = parser.parse_args()
    if options.redis_server:
        serve_redis(options.port, options.redis_server)
    elif options.anyio:
        uvloop.run(serve_anyio(options.port, options.direct))
    else:
        uvloop.run(serve(options.port))
    return 0


if __name__ == "__main__":
    sys.exit(main())
