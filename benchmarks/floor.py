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
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import sys
from typing import Any

import uvloop

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
    options = parser.parse_args()
    if options.anyio:
        uvloop.run(serve_anyio(options.port, options.direct))
    else:
        uvloop.run(serve(options.port))
    return 0


if __name__ == "__main__":
    sys.exit(main())
