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
