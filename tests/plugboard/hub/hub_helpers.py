"""Hub test helpers: a real uvicorn hub on a free port, a bare V1 consumer like Vera's, a producer."""

from __future__ import annotations

import asyncio
import json
import socket
import urllib.parse
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import uvicorn
import websockets

from plugwork.plugboard.hub.core import Hub, HubSettings
from plugwork.plugboard.hub.server import WS_IMPLEMENTATIONS, HubApp, create_app, uvicorn_options

ACTIONS = {
    "Echo": {"description": "echo", "fields": {"text": {"type": "string", "description": "what to echo"}}}
}


ADMIN_TOKEN = "admin-secret"


def fast_settings(tmp_path: Path, **overrides: object) -> HubSettings:
    """Short intervals so that the tests stay fast."""
    settings = HubSettings(
        store_url=f"sqlite:///{tmp_path}/hub.db",
        admin_token=ADMIN_TOKEN,
        request_timeout=5.0,
        event_poll_interval=0.02,
        idle_timeout=30.0,
    )
    for key, value in overrides.items():
        setattr(settings, key, value)
    return settings


def free_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


@dataclass
class RunningHub:
    """A hub served by uvicorn in this event loop."""

    app: HubApp
    port: int

    @property
    def hub(self) -> Hub:
        hub: Hub = self.app.state.hub
        return hub

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def ws_url(self, token: str | None = None, actions: Any = ACTIONS, vsn: str | None = None) -> str:
        params: dict[str, str] = {}
        if token is not None:
            params["token"] = token
        if actions is not None:
            params["actions"] = actions if isinstance(actions, str) else json.dumps(actions)
        if vsn is not None:
            params["vsn"] = vsn
        return f"ws://127.0.0.1:{self.port}/websocket?{urllib.parse.urlencode(params)}"


@asynccontextmanager
async def running_hub(settings: HubSettings, ws: str = WS_IMPLEMENTATIONS[0]) -> AsyncIterator[RunningHub]:
    """Serve a hub with uvicorn on a free port, in this event loop (``ws``: as ``plugwork hub --ws``)."""
    app = create_app(settings)
    sock = free_socket()
    port = sock.getsockname()[1]
    # The same uvicorn options as `plugwork hub`, so that the tests exercise what production runs.
    config = uvicorn.Config(app, log_level="warning", lifespan="on", **uvicorn_options(settings, ws))
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    async with asyncio.timeout(10):
        while not server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.01)
    try:
        yield RunningHub(app, port)
    finally:
        server.should_exit = True
        async with asyncio.timeout(10):
            await task
        sock.close()


@dataclass
class Credentials:
    """An account token, a service and a token for it."""

    account_token: str
    service_id: str
    token: str
    token_id: str


async def make_credentials(hub: Hub, name: str = "svc") -> Credentials:
    account = await hub.store.create_account("producer")
    service = await hub.store.create_service(name)
    token = await hub.store.create_token(service.id)
    assert account.token and token.value
    return Credentials(account.token, service.id, token.value, token.id)


class V1Consumer:
    """A bare consumer speaking V1 like Vera's (websockets client, no vsn): join, then answer requests."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.ref = 0

    @classmethod
    @asynccontextmanager
    async def connect(cls, url: str, **kwargs: Any) -> AsyncIterator[V1Consumer]:
        async with websockets.connect(url, **kwargs) as ws:
            yield cls(ws)

    async def send(self, topic: str, event: str, payload: Any, ref: str | None = None) -> str | None:
        if ref is None:
            self.ref += 1
            ref = str(self.ref)
        await self.ws.send(json.dumps({"topic": topic, "event": event, "payload": payload, "ref": ref}))
        return ref

    async def recv(self, timeout: float = 5.0) -> dict[str, Any]:
        async with asyncio.timeout(timeout):
            frame = await self.ws.recv()
        data: dict[str, Any] = json.loads(frame)
        return data

    async def recv_event(
        self, event: str, timeout: float = 5.0, where: Callable[[dict[str, Any]], bool] | None = None
    ) -> dict[str, Any]:
        """The next frame with ``event`` (and matching ``where``), skipping others."""
        async with asyncio.timeout(timeout):
            while True:
                frame = await self.recv(timeout)
                if frame["event"] == event and (where is None or where(frame["payload"])):
                    return frame

    async def join(self) -> dict[str, Any]:
        ref = await self.send("service", "phx_join", {})
        reply = await self.recv_event("phx_reply")
        assert reply["ref"] == ref
        return reply

    async def answer_one(
        self, status_code: int = 200, message: str | None = None, timeout: float = 5.0
    ) -> dict[str, Any]:
        """Wait for a request and answer it by echoing its fields."""
        request = await self.recv_event("request", timeout)
        payload = request["payload"]
        body = {"status_code": status_code, "message": message, "fields": {"echo": payload["fields"]}}
        await self.send("service", "response", body, ref=payload["response_ref"])
        return request


async def produce(
    client: httpx.AsyncClient,
    account_token: str | None,
    body: Any,
    *,
    raw: bytes | None = None,
    base: str = "",
) -> httpx.Response:
    """``POST /`` as a producer (to ``base``, or the client's base URL)."""
    headers = {"Authorization": f"Bearer {account_token}"} if account_token else {}
    if raw is not None:
        return await client.post(
            f"{base}/", content=raw, headers={**headers, "content-type": "application/json"}
        )
    return await client.post(f"{base}/", json=body, headers=headers)
