"""Connection limits on a real uvicorn server, for each HTTP implementation uvicorn may pick (httptools with
the ``speed`` extra, h11 without): header size (431), header and body time (408), idle connections, and the
lingering close that lets every client read an early 413.

The server runs the greeter example with the options ``plugwork run`` builds (``uvicorn_defaults`` from the
app's ``http_*`` settings); the clients are raw sockets and urllib, each read bounded by a socket timeout.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from core_helpers import EXAMPLE_DIR, OFFLINE, load_example
from live_server import LiveServer, live_server, read_response, read_until_closed
from plugwork.http.limits import HttpLimits
from plugwork.server import uvicorn_defaults
from test_uvicorn import PLUGWORK, START_TIMEOUT, free_port

pytestmark = pytest.mark.timeout(120)

IMPLEMENTATIONS = ["httptools", "h11"]
LIMITS: dict[str, Any] = {
    "max_body_bytes": 64 * 1024,
    "http_max_header_bytes": 8 * 1024,
    "http_header_timeout_seconds": 0.3,
    "http_body_timeout_seconds": 0.3,
    "http_keep_alive_seconds": 0.3,
    "http_linger_bytes": 4 * 1024 * 1024,
    "http_linger_seconds": 3.0,
    "http_send_timeout_seconds": 0.5,
}
READ = 10.0  # a generous bound on every read: each timeout above is well under a second
GREET = b'{"name": "World"}'


def post_head(length: int, path: bytes = b"/actions/greet", close: bool = False) -> bytes:
    extra = b"Connection: close\r\n" if close else b""
    return (
        b"POST " + path + b" HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n%s\r\n" % (length, extra)
    )


@pytest.fixture(params=IMPLEMENTATIONS)
def server(request: pytest.FixtureRequest) -> Iterator[LiveServer]:
    if request.param == "httptools":
        pytest.importorskip("httptools")
    app = load_example().app
    app.configure(EXAMPLE_DIR / "plugwork.yaml", **OFFLINE, **LIMITS)
    options = uvicorn_defaults(HttpLimits.from_settings(app.settings), request.param)
    with live_server(app.asgi, **options) as live:
        yield live


def test_the_settings_choose_the_limits() -> None:
    app = load_example().app
    app.configure(EXAMPLE_DIR / "plugwork.yaml", **OFFLINE, **LIMITS)
    limits = HttpLimits.from_settings(app.settings)
    assert limits == HttpLimits(8 * 1024, 0.3, 0.3, 0.3, 4 * 1024 * 1024, 3.0, 0.5)
    protocol = uvicorn_defaults(limits, "h11")["http"]
    assert protocol.limits is limits


def test_requests_within_the_limits_are_served_on_one_connection(server: LiveServer) -> None:
    with server.connect(READ) as sock:
        for _ in range(3):
            sock.sendall(post_head(len(GREET)) + GREET)
            status, _, body = read_response(sock)
            assert (status, body) == (200, b'{"message":"Hello, World!"}')
        # a head and a body arriving in pieces, each within the time limits
        head = post_head(len(GREET))
        for piece in (head[:10], head[10:], GREET[:5], GREET[5:]):
            sock.sendall(piece)
            time.sleep(0.05)
        status, headers, _ = read_response(sock)
        assert status == 200 and b"connection" not in headers  # the body arrived whole: keep-alive holds
        # two requests in one write (pipelined), each answered in turn
        sock.sendall((post_head(len(GREET)) + GREET) * 2)
        answers = b""
        while answers.count(b'{"message":"Hello, World!"}') < 2:
            chunk = sock.recv(65536)
            assert chunk, answers
            answers += chunk
        assert answers.count(b"HTTP/1.1 200 ") == 2
        # headers just under the limit
        sock.sendall(b"GET /health/live HTTP/1.1\r\nHost: t\r\nX-Pad: " + b"a" * 7000 + b"\r\n\r\n")
        assert read_response(sock)[0] == 200


@pytest.mark.parametrize("size", [20 * 1024, 4 * 1024 * 1024])
def test_headers_over_the_limit_are_431(server: LiveServer, size: int) -> None:
    # 20 KiB arrives in one read (the whole head is measured); 4 MiB streams (the bytes read are counted).
    request = b"GET /health/live HTTP/1.1\r\nHost: t\r\nX-Big: " + b"a" * size + b"\r\n\r\n"
    with server.connect(READ) as sock:
        sock.sendall(request)  # the lingering close drains it all, so this does not fail
        response = read_until_closed(sock)
    assert response.startswith(b"HTTP/1.1 431 "), response[:100]
    assert b"connection: close" in response.lower()
    server.wait_for_no_connections()


def test_many_headers_over_the_limit_are_431(server: LiveServer) -> None:
    headers = b"".join(b"X-H%d: %s\r\n" % (i, b"v" * 50) for i in range(400))
    with server.connect(READ) as sock:
        sock.sendall(b"GET /health/live HTTP/1.1\r\nHost: t\r\n" + headers + b"\r\n")
        assert read_until_closed(sock).startswith(b"HTTP/1.1 431 ")


def test_slow_headers_are_408(server: LiveServer) -> None:
    with server.connect(READ) as sock:
        sock.sendall(b"GET /health/live HTTP/1.1\r\nHost: t\r\n")  # and never the blank line
        assert read_until_closed(sock).startswith(b"HTTP/1.1 408 ")
    server.wait_for_no_connections()


def test_headers_trickled_byte_by_byte_are_408(server: LiveServer) -> None:
    # Each byte is sent before the header timeout of the last: only a bound on the whole head stops it.
    with server.connect(READ) as sock:
        sock.sendall(b"GET /health/live HTTP/1.1\r\nHost: t\r\nX-Slow: ")
        answered = b""
        for _ in range(100):
            time.sleep(0.05)
            try:
                sock.sendall(b"a")
            except OSError:
                break
            sock.setblocking(False)
            try:
                answered = sock.recv(65536)
            except BlockingIOError:
                pass
            finally:
                sock.setblocking(True)
            if answered:
                break
        answered += read_until_closed(sock)
    assert answered.startswith(b"HTTP/1.1 408 "), answered[:100]


def test_a_client_that_stops_reading_is_dropped(server: LiveServer) -> None:
    # Answers of 1.7 MiB each, asked for and never read: the server's writes stay paused past
    # http_send_timeout_seconds, and it drops the connection rather than keep the answer waiting forever.
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.settimeout(READ)
    try:
        sock.connect(("127.0.0.1", server.port))
        sock.sendall(b"GET /docs/assets/swagger-ui-bundle.js HTTP/1.1\r\nHost: t\r\n\r\n" * 10)
        assert sock.recv(100).startswith(b"HTTP/1.1 200 ")  # being answered; then nothing more is read
        assert server.connections() == 1
        server.wait_for_no_connections()
    finally:
        sock.close()


def _greet_invocations(server: LiveServer) -> float:
    with urllib.request.urlopen(f"{server.url}/metrics", timeout=READ) as response:
        lines = response.read().decode().splitlines()
    return sum(
        float(line.rpartition(" ")[2])
        for line in lines
        if line.startswith("plugwork_invocations_total{") and 'action="greet"' in line
    )


def test_slow_body_is_408_and_runs_nothing(server: LiveServer) -> None:
    before = _greet_invocations(server)
    with server.connect(READ) as sock:
        sock.sendall(post_head(100) + b'{"name": "')  # 10 of 100 bytes, then silence
        response = read_until_closed(sock)
    assert response.startswith(b"HTTP/1.1 408 "), response[:100]
    server.wait_for_no_connections()
    assert _greet_invocations(server) == before
    assert _urlopen_status(f"{server.url}/actions/greet", GREET) == 200  # the count does count
    assert _greet_invocations(server) == before + 1


def test_a_connection_that_never_sends_is_closed(server: LiveServer) -> None:
    with server.connect(READ) as sock:
        assert read_until_closed(sock) == b""
    server.wait_for_no_connections()


def test_an_idle_keep_alive_connection_is_closed(server: LiveServer) -> None:
    with server.connect(READ) as sock:
        sock.sendall(post_head(len(GREET)) + GREET)
        assert read_response(sock)[0] == 200
        assert read_until_closed(sock) == b""


def test_many_half_sent_requests_are_all_cut_off(server: LiveServer) -> None:
    socks = [server.connect(READ) for _ in range(50)]
    try:
        for i, sock in enumerate(socks):
            sock.sendall(post_head(100)[: 10 + i] if i % 2 else post_head(100) + b"{")
        for sock in socks:
            assert read_until_closed(sock).startswith(b"HTTP/1.1 408 ")
    finally:
        for sock in socks:
            sock.close()
    server.wait_for_no_connections()


def _urlopen_status(url: str, body: bytes) -> int:
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=READ) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        error.read()
        return error.code


BIG = b'{"name": "' + b"x" * (2 * 1024 * 1024) + b'"}'  # 2 MiB, over the 64 KiB limit


def test_urllib_reads_every_413(server: LiveServer) -> None:
    # urllib sends "Connection: close" and the whole body before it reads: without the lingering close the
    # server's close resets the connection under it (ECONNRESET or EPIPE instead of the answer).
    statuses = [_urlopen_status(f"{server.url}/actions/greet", BIG) for _ in range(20)]
    assert statuses == [413] * 20


def test_httpx_reads_every_413(server: LiveServer) -> None:
    with httpx.Client(base_url=server.url, timeout=READ) as client:  # one pool: keep-alive where it can
        statuses = [
            client.post(
                "/actions/greet", content=BIG, headers={"Content-Type": "application/json"}
            ).status_code
            for _ in range(20)
        ]
    assert statuses == [413] * 20


@pytest.mark.parametrize("close", [True, False])
def test_raw_clients_read_every_413(server: LiveServer, close: bool) -> None:
    for _ in range(20):
        with server.connect(READ) as sock:
            sock.sendall(post_head(len(BIG), close=close) + BIG)
            status, headers, body = read_response(sock)
            assert status == 413 and b"PAYLOAD_TOO_LARGE" in body
            assert headers[b"connection"] == b"close"  # so that no client sends a next request into it
            assert read_until_closed(sock) == b""  # then the server closes: the rest was drained, not parsed


def test_a_streamed_body_over_the_limit_is_413_for_every_client(server: LiveServer) -> None:
    chunked = b"".join(
        b"%x\r\n%s\r\n" % (len(part), part)
        for part in [BIG[i : i + 65536] for i in range(0, len(BIG), 65536)]
    )
    head = (
        b"POST /actions/greet HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n"
    )
    for _ in range(5):
        with server.connect(READ) as sock:
            sock.sendall(head + chunked + b"0\r\n\r\n")
            assert read_response(sock)[0] == 413


def test_the_drain_is_bounded_in_bytes(server: LiveServer) -> None:
    # A client that keeps sending past the 413 is cut off once linger_bytes (4 MiB) are drained.
    with server.connect(READ) as sock:
        sock.sendall(post_head(1 << 40))
        with pytest.raises(OSError):  # reset or broken pipe: the server closed with data unread
            for _ in range(10_000):
                sock.sendall(b"x" * 65536)
    server.wait_for_no_connections()


def test_the_drain_is_bounded_in_time(server: LiveServer) -> None:
    # A client that stops sending mid-body after its 413 (and never closes) is closed after linger_seconds.
    with server.connect(READ) as sock:
        sock.sendall(post_head(1 << 20) + b"x" * 100_000)
        status, _, _ = read_response(sock)
        assert status == 413
        assert server.connections() == 1  # lingering: still reading what the client sends
        server.wait_for_no_connections()


def test_a_slow_client_does_not_hold_a_fast_one(server: LiveServer) -> None:
    slow = server.connect(READ)
    try:
        slow.sendall(b"POST /actions/greet HTTP/1.1\r\n")
        result: list[int] = []
        worker = threading.Thread(
            target=lambda: result.append(_urlopen_status(f"{server.url}/actions/greet", GREET))
        )
        worker.start()
        worker.join(READ)
        assert result == [200]
    finally:
        slow.close()


def test_a_reset_mid_body_frees_the_connection(server: LiveServer) -> None:
    with server.connect(READ) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        sock.sendall(post_head(100) + b"{")
    server.wait_for_no_connections()


def _raw(port: int, data: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=READ) as sock:
        sock.sendall(data)
        return read_until_closed(sock)


def _wait_for_port(proc: subprocess.Popen[bytes], port: int, log_file: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        assert proc.poll() is None, log_file.read_text()
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
            return
        time.sleep(0.05)
    pytest.fail(f"not listening after {START_TIMEOUT}s:\n{log_file.read_text()}")


@pytest.mark.parametrize("command", ["run", "hub"])
def test_plugwork_run_and_hub_apply_their_limit_settings(tmp_path: Path, command: str) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PLUGWORK_")}
    if command == "run":
        env.update(
            PLUGWORK_QUEUE_URL="none",
            PLUGWORK_HTTP_MAX_HEADER_BYTES="2048",
            PLUGWORK_HTTP_HEADER_TIMEOUT_SECONDS="0.3",
        )
        args = ["run", "app:app", "--config", "plugwork.yaml", "--port", str(port)]
    else:
        env.update(PLUGWORK_HUB_MAX_HEADER_BYTES="2048", PLUGWORK_HUB_STORE=f"sqlite:///{tmp_path}/hub.db")
        args = ["hub", "--port", str(port), "--header-timeout", "0.3"]
    log_file = tmp_path / "server.log"
    with log_file.open("wb") as log_out:
        proc = subprocess.Popen(
            [str(PLUGWORK), *args], cwd=EXAMPLE_DIR, env=env, stdout=log_out, stderr=subprocess.STDOUT
        )
        try:
            _wait_for_port(proc, port, log_file)
            small = _raw(port, b"GET /health HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
            assert small.startswith(b"HTTP/1.1 200 "), small[:100]
            big = b"GET /health HTTP/1.1\r\nHost: t\r\nX-Big: " + b"a" * 3000 + b"\r\n\r\n"
            assert _raw(port, big).startswith(b"HTTP/1.1 431 ")
            assert _raw(port, b"GET /health HTTP/1.1\r\n").startswith(b"HTTP/1.1 408 ")
        finally:
            proc.terminate()
            proc.wait(timeout=30)
