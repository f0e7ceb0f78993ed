"""A real uvicorn server on loopback, in a thread of its own, for tests that need real sockets and clients."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import uvicorn

START_TIMEOUT = 10.0  # bounds on waiting, not performance thresholds
STOP_TIMEOUT = 10.0


@dataclass
class LiveServer:
    """A running server: its port and uvicorn's server object (its connections are counted)."""

    server: uvicorn.Server
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def connect(self, timeout: float = 10.0) -> socket.socket:
        """A raw client socket, its reads bounded by ``timeout``."""
        return socket.create_connection(("127.0.0.1", self.port), timeout=timeout)

    def connections(self) -> int:
        return len(self.server.server_state.connections)

    def wait_for_no_connections(self, bound: float = 10.0) -> None:
        """Wait (up to ``bound`` seconds) until the server holds no connection."""
        deadline = time.monotonic() + bound
        while self.connections() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert self.connections() == 0, f"{self.connections()} connection(s) still open after {bound}s"


@contextmanager
def live_server(asgi: Any, **options: Any) -> Iterator[LiveServer]:
    """Serve ``asgi`` with uvicorn ``options`` (lifespan on) on a free loopback port until the block ends."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(asgi, lifespan="on", log_level="warning", **options)
    server = uvicorn.Server(config)
    failure: list[BaseException] = []

    def run() -> None:
        try:
            asyncio.run(server.serve(sockets=[sock]))
        except BaseException as exc:
            failure.append(exc)

    thread = threading.Thread(target=run, name="live-uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + START_TIMEOUT
    while not server.started:
        assert not failure and thread.is_alive(), f"the server did not start: {failure}"
        assert time.monotonic() < deadline, "the server did not start in time"
        time.sleep(0.01)
    try:
        yield LiveServer(server, port)
    finally:
        server.should_exit = True
        thread.join(STOP_TIMEOUT)
        sock.close()
        assert not thread.is_alive(), "the server did not stop"


def read_until_closed(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes; a reset or the socket's timeout is raised."""
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def read_response(sock: socket.socket) -> tuple[int, dict[bytes, bytes], bytes]:
    """One response (status, lower-case headers, body) read by its Content-Length; one request at a time."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"closed before a whole response head: {data!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    assert lines[0].startswith(b"HTTP/1.1 "), lines[0]
    headers = dict(line.lower().split(b": ", 1) for line in lines[1:])
    length = int(headers.get(b"content-length", b"0"))
    while len(body) < length:
        chunk = sock.recv(65536)
        assert chunk, "closed before the whole body"
        body += chunk
    return int(lines[0][9:12]), headers, body[:length]
