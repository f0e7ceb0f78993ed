"""Server processes freeze their start-up objects out of the cyclic garbage collector once started."""

from __future__ import annotations

import asyncio
import gc
from typing import Any

import pytest
import uvicorn

from plugwork import server as server_module


async def lifespan_only(scope: dict[str, Any], receive: Any, send: Any) -> None:
    assert scope["type"] == "lifespan"
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


async def test_the_server_freezes_once_started(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[bool] = []
    monkeypatch.setattr(server_module, "freeze_startup_objects", lambda: calls.append(True))
    config = uvicorn.Config(lifespan_only, host="127.0.0.1", port=0, log_config=None, lifespan="on")
    server = server_module._server(config)
    task = asyncio.create_task(server.serve())
    async with asyncio.timeout(10):
        while not server.started:
            await asyncio.sleep(0.01)
    assert calls == [True]
    server.should_exit = True
    await asyncio.wait_for(task, 10)


def test_freeze_moves_live_objects_out_of_the_collectors_sight() -> None:
    before = gc.get_freeze_count()
    server_module.freeze_startup_objects()
    try:
        assert gc.get_freeze_count() > before
    finally:
        gc.unfreeze()  # this test process goes on creating and dropping objects


def test_websocket_routes_work_with_the_protocol_loaded_on_demand() -> None:
    # plugwork's uvicorn defaults import the WebSocket protocol at the first upgrade, not at start-up.
    import websockets.sync.client
    from starlette.applications import Starlette
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route, WebSocketRoute
    from starlette.websockets import WebSocket

    from live_server import live_server
    from plugwork.http.limits import HttpLimits

    async def echo(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_text("echo: " + await websocket.receive_text())
        await websocket.close()

    async def hello(request: Any) -> PlainTextResponse:
        return PlainTextResponse("hello")

    app = Starlette(routes=[Route("/", hello), WebSocketRoute("/ws", echo)])
    options = server_module.uvicorn_defaults(HttpLimits())
    assert not isinstance(options["ws"], str)  # a factory, not uvicorn's name for a protocol
    with live_server(app, **options) as server:
        for _ in range(2):  # the first upgrade loads the protocol, the second reuses it
            with websockets.sync.client.connect(f"ws://127.0.0.1:{server.port}/ws", open_timeout=10) as ws:
                ws.send("hi")
                assert ws.recv(timeout=10) == "echo: hi"
        with server.connect() as sock:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            assert sock.recv(4096).startswith(b"HTTP/1.1 200")
