"""The hub's HTTP connection limits (``plugwork hub``'s uvicorn options): header size and time on producers'
requests and on consumers' WebSocket handshakes, body time, idle sockets, and the 413 every client reads."""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hub_helpers import Credentials, RunningHub, V1Consumer, fast_settings, make_credentials, running_hub

from plugwork.http.limits import HttpLimits, protocol_class
from plugwork.plugboard.hub import server as hub_server
from plugwork.plugboard.hub.cli import hub as hub_command
from plugwork.plugboard.hub.core import HubSettings

pytestmark = pytest.mark.timeout(120)

LIMITS: dict[str, Any] = {
    "max_header_bytes": 8 * 1024,
    "header_timeout": 0.3,
    "body_timeout": 0.3,
    "keep_alive_timeout": 0.3,
    "linger_bytes": 8 * 1024 * 1024,
    "linger_timeout": 2.0,
}
READ = 10.0  # a generous bound on every read: each timeout above is well under a second


@pytest.fixture(params=["httptools", "h11"])
async def limited(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[RunningHub]:
    if request.param == "httptools":
        pytest.importorskip("httptools")
    chosen = request.param
    monkeypatch.setattr(
        hub_server, "uvicorn_defaults", lambda limits: {"http": protocol_class(limits, chosen)}
    )
    async with running_hub(fast_settings(tmp_path, **LIMITS)) as running:
        yield running


async def exchange(port: int, data: bytes) -> bytes:
    """Send ``data`` and read until the hub closes the connection."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(data)
        await writer.drain()
        async with asyncio.timeout(READ):
            return await reader.read()
    finally:
        writer.close()


def test_the_hub_settings_and_cli_choose_the_limits() -> None:
    settings = HubSettings(**LIMITS)
    assert settings.http_limits() == HttpLimits(8 * 1024, 0.3, 0.3, 0.3, 8 * 1024 * 1024, 2.0)
    assert hub_server.uvicorn_options(settings)["http"].limits == settings.http_limits()
    assert HubSettings().http_limits() == HttpLimits()
    help_text = CliRunner().invoke(hub_command, ["--help"]).output
    for option in (
        "--max-header-bytes",
        "--header-timeout",
        "--body-timeout",
        "--keep-alive-timeout",
        "--send-timeout",
    ):
        assert option in help_text


async def test_a_slow_websocket_handshake_is_408(limited: RunningHub) -> None:
    head = b"GET /websocket?vsn=2.0.0 HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    response = await exchange(limited.port, head)  # and never the blank line
    assert response.startswith(b"HTTP/1.1 408 "), response[:100]


@pytest.mark.parametrize("size", [20 * 1024, 4 * 1024 * 1024])
async def test_a_websocket_handshake_over_the_header_limit_is_431(limited: RunningHub, size: int) -> None:
    head = (
        b"GET /websocket?vsn=2.0.0 HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nX-Big: "
    )
    response = await exchange(limited.port, head + b"a" * size + b"\r\n\r\n")
    assert response.startswith(b"HTTP/1.1 431 "), response[:100]


async def test_a_producer_header_over_the_limit_is_431(limited: RunningHub) -> None:
    request = b"POST / HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer " + b"a" * 20_000 + b"\r\n\r\n"
    assert (await exchange(limited.port, request)).startswith(b"HTTP/1.1 431 ")


async def test_a_slow_producer_body_is_408(limited: RunningHub) -> None:
    creds = await make_credentials(limited.hub)
    head = b"POST / HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer %s\r\nContent-Length: 100\r\n\r\n{" % (
        creds.account_token.encode()
    )
    assert (await exchange(limited.port, head)).startswith(b"HTTP/1.1 408 ")


async def test_a_socket_that_never_sends_is_closed(limited: RunningHub) -> None:
    assert await exchange(limited.port, b"") == b""


async def test_a_consumer_socket_outlives_the_http_timers(limited: RunningHub) -> None:
    # Once upgraded, a socket is the hub's (its own idle timeout): no HTTP timer may cut it.
    creds: Credentials = await make_credentials(limited.hub)
    async with V1Consumer.connect(limited.ws_url(creds.token)) as consumer:
        await asyncio.sleep(1.0)  # past the header, body and keep-alive timeouts
        reply = await consumer.join()
    assert reply["payload"]["status"] == "ok"


def _post(url: str, body: bytes) -> int:
    request = urllib.request.Request(url, data=body, headers={"Authorization": "Bearer x"})
    try:
        with urllib.request.urlopen(request, timeout=READ) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        error.read()
        return error.code


async def test_urllib_reads_every_413_from_the_hub(limited: RunningHub) -> None:
    big = json.dumps({"service_id": "s", "action": "a", "fields": {"x": "y" * (2 * 1024 * 1024)}}).encode()
    statuses = [await asyncio.to_thread(_post, limited.url + "/", big) for _ in range(20)]
    assert statuses == [413] * 20
