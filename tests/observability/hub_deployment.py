"""A Plugwork hub under uvicorn in this process (SQLite store), a producer account and a service token."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from plugwork.plugboard.hub.core import Hub, HubSettings
from plugwork.plugboard.hub.server import create_app


@dataclass
class HubDeployment:
    """A running hub, a service with a consumer token, and a producer's HTTP client."""

    hub: Hub
    ws_url: str
    http: httpx.AsyncClient
    service_id: str
    token: str

    async def call(self, action: str, fields: Any, headers: dict[str, str] | None = None) -> httpx.Response:
        body = {"service_id": self.service_id, "action": action, "fields": fields}
        return await self.http.post("/", json=body, headers=headers)

    async def wait_for_consumer(self) -> None:
        async with asyncio.timeout(10):  # a bound on waiting for the join, not a performance threshold
            while not self.hub.router.count(self.service_id):
                await asyncio.sleep(0.01)


@contextlib.asynccontextmanager
async def deployment(tmp_path: Path) -> AsyncIterator[HubDeployment]:
    settings = HubSettings(store_url=f"sqlite:///{tmp_path}/hub.db", request_timeout=10.0)
    app = create_app(settings)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on", ws_ping_interval=None))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        async with asyncio.timeout(10):
            while not server.started:
                if task.done():
                    task.result()
                await asyncio.sleep(0.01)
        hub: Hub = app.state.hub
        account = await hub.store.create_account("producer")
        service = await hub.store.create_service("catalog")
        token = await hub.store.create_token(service.id)
        assert account.token and token.value
        headers = {"Authorization": f"Bearer {account.token}"}
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}", headers=headers, timeout=10
        ) as http:
            yield HubDeployment(hub, f"ws://127.0.0.1:{port}/websocket", http, service.id, token.value)
    finally:
        server.should_exit = True
        async with asyncio.timeout(10):
            await task
        sock.close()
