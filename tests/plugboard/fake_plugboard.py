"""A test double of a real Vera Plugboard's consumer side, built on ``websockets``.

It behaves like the Elixir server as described in ``shared/specs/plugboard.md``: the socket at
``/websocket``, V1 or V2 frames chosen by ``vsn``, connect-time refusals (missing or invalid token, an actions
map that differs from the other connected consumers'), the ``service`` join reply, heartbeat replies, server
pushes, and ``response`` pushes from the consumer matched to requests by ``response_ref``.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from plugwork.errors import ProtocolError
from plugwork.plugboard.protocol import (
    HEARTBEAT,
    PHOENIX_TOPIC,
    PHX_JOIN,
    PHX_LEAVE,
    PHX_REPLY,
    SERVICE_TOPIC,
    Message,
    Serializer,
    reply,
    serializer_for,
)

TOKEN_INVALID = "Service API token is invalid"
AUTH_REQUIRED = "Authentication required"
ACTIONS_MISMATCH = "Current consumer actions do not match other registered consumer actions"


@dataclass(eq=False)
class FakeConnection:
    """One consumer socket as the fake server sees it."""

    ws: ServerConnection
    params: dict[str, str]
    serializer: Serializer
    token: dict[str, Any]
    actions: Any
    join_ref: str | None = None
    joined: bool = False
    left: bool = False
    heartbeats: int = 0
    received: list[Message] = field(default_factory=list)

    async def send(self, message: Message) -> None:
        await self.ws.send(self.serializer.encode(message))


class FakePlugboard:
    """Run with ``async with FakePlugboard() as hub:``; ``hub.url`` is the consumer's WebSocket URL."""

    def __init__(
        self,
        tokens: dict[str, str] | None = None,
        *,
        reply_heartbeats: bool = True,
        join_error: str | None = None,
    ) -> None:
        self.service: dict[str, Any] = {
            "id": "5e1f0a2c-0000-4000-8000-000000000001",
            "name": "billing",
            "inserted_at": "2026-11-22T10:00:00Z",
            "updated_at": "2026-11-22T10:00:00Z",
        }
        self.tokens: dict[str, dict[str, Any]] = {}
        for value, token_id in (tokens or {"secret-token": "tok-1"}).items():
            self.add_token(value, token_id)
        self.reply_heartbeats = reply_heartbeats
        self.join_error = join_error
        self.connections: list[FakeConnection] = []
        self.refusals: list[tuple[int, str]] = []
        self.responses: list[tuple[str, Any]] = []
        self.joins = 0
        self._pending: dict[str, asyncio.Future[Any]] = {}
        self._accepted: dict[uuid.UUID, tuple[dict[str, str], Serializer, dict[str, Any], Any]] = {}
        self._round_robin = itertools.count()
        self._server: Server | None = None
        self.url = ""

    async def __aenter__(self) -> FakePlugboard:
        self._server = await serve(
            self._handle, "127.0.0.1", 0, process_request=self._check, ping_interval=None, compression=None
        )
        port = next(iter(self._server.sockets)).getsockname()[1]
        self.url = f"ws://127.0.0.1:{port}/websocket"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        await asyncio.wait_for(self._server.wait_closed(), 5)

    # -------------------------------------------------------------------------------- test controls

    def add_token(self, value: str, token_id: str) -> dict[str, Any]:
        """Register a service token (what ``token_created`` announces); returns its public fields."""
        info = {
            "id": token_id,
            "context": "api",
            "service_id": self.service["id"],
            "inserted_at": "2026-11-22T10:00:00Z",
            "expires_at": "2027-11-22T10:00:00Z",
        }
        self.tokens[value] = info
        return dict(info)

    @property
    def joined(self) -> list[FakeConnection]:
        return [c for c in self.connections if c.joined]

    async def push(self, event: str, payload: Any, conn: FakeConnection | None = None) -> None:
        """A server push on topic ``service`` (ref null) to one or every joined consumer."""
        for target in [conn] if conn is not None else self.joined:
            await target.send(Message(SERVICE_TOPIC, event, payload, None, target.join_ref))

    async def send_raw(self, frame: str | bytes, conn: FakeConnection | None = None) -> None:
        """Send a frame exactly as given (for malformed-frame tests)."""
        target = conn or self.joined[0]
        await target.ws.send(frame)

    async def start_request(
        self,
        action: str,
        fields: Any,
        conn: FakeConnection | None = None,
        headers: dict[str, str] | None = None,
    ) -> asyncio.Future[Any]:
        """Push a ``request``; the returned future resolves to the consumer's ``response`` payload."""
        targets = self.joined
        assert targets, "no consumer has joined"
        target = conn or targets[next(self._round_robin) % len(targets)]
        ref = str(uuid.uuid4())
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[ref] = future
        payload: dict[str, Any] = {"action": action, "fields": fields, "response_ref": ref}
        if headers is not None:
            payload["headers"] = headers  # carried context: correlation id, a caller's bearer token...
        await self.push("request", payload, target)
        return future

    async def request(
        self, action: str, fields: Any, *, timeout: float = 5.0, headers: dict[str, str] | None = None
    ) -> Any:
        """Push a ``request`` and wait (bounded) for the consumer's response payload."""
        return await asyncio.wait_for(await self.start_request(action, fields, headers=headers), timeout)

    def drop(self) -> None:
        """Cut every socket without a closing handshake, as a crashed server or network would."""
        for conn in self.connections:
            conn.ws.transport.abort()

    async def wait_until(self, predicate: Callable[[], bool], timeout: float = 5.0) -> None:
        """Poll ``predicate`` until it holds; fail the test if it never does within ``timeout`` s."""
        async with asyncio.timeout(timeout):
            while not predicate():
                await asyncio.sleep(0.005)

    # -------------------------------------------------------------------------------- the server

    def _check(self, connection: ServerConnection, request: Request) -> Response | None:
        url = urlsplit(request.path)
        if url.path != "/websocket":
            return self._refuse(connection, HTTPStatus.NOT_FOUND, "Not Found")
        query = {k: v[-1] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        token_value = query.get("token")
        if not token_value:
            return self._refuse(connection, HTTPStatus.FORBIDDEN, AUTH_REQUIRED)
        token = self.tokens.get(token_value)
        if token is None:
            return self._refuse(connection, HTTPStatus.FORBIDDEN, TOKEN_INVALID)
        try:
            actions = orjson.loads(query.get("actions", ""))
            serializer = serializer_for(query.get("vsn"))
        except (orjson.JSONDecodeError, ProtocolError) as exc:
            return self._refuse(connection, HTTPStatus.BAD_REQUEST, str(exc))
        if any(c.actions != actions for c in self.connections):
            return self._refuse(connection, HTTPStatus.FORBIDDEN, ACTIONS_MISMATCH)
        self._accepted[connection.id] = (query, serializer, token, actions)
        return None

    def _refuse(self, connection: ServerConnection, status: HTTPStatus, reason: str) -> Response:
        self.refusals.append((int(status), reason))
        return connection.respond(status, reason)

    async def _handle(self, ws: ServerConnection) -> None:
        params, serializer, token, actions = self._accepted.pop(ws.id)
        conn = FakeConnection(ws, params, serializer, token, actions)
        self.connections.append(conn)
        try:
            async for frame in ws:
                try:
                    message = serializer.decode(frame)
                except ProtocolError:
                    continue  # Phoenix logs and ignores undecodable frames
                conn.received.append(message)
                await self._on_message(conn, message)
        except ConnectionClosed:
            pass
        finally:
            self.connections.remove(conn)
            if conn.joined:
                conn.joined = False
                with contextlib.suppress(ConnectionClosed):
                    await self.push("num_consumers", {"num_consumers": len(self.joined)})

    async def _on_message(self, conn: FakeConnection, message: Message) -> None:
        if message.topic == PHOENIX_TOPIC and message.event == HEARTBEAT:
            conn.heartbeats += 1
            if self.reply_heartbeats:
                await conn.send(reply(message))
        elif message.topic == SERVICE_TOPIC and message.event == PHX_JOIN:
            await self._join(conn, message)
        elif message.topic == SERVICE_TOPIC and conn.joined and message.event == "response":
            self.responses.append((message.ref or "", message.payload))
            future = self._pending.pop(message.ref or "", None)
            if future is not None and not future.done():
                future.set_result(message.payload)
        elif message.topic == SERVICE_TOPIC and conn.joined and message.event == PHX_LEAVE:
            conn.joined, conn.left = False, True
            await conn.send(reply(message))
            await self.push("num_consumers", {"num_consumers": len(self.joined)})
        elif message.event != PHX_REPLY:
            await conn.send(reply(message, "error", {"reason": "unmatched topic"}))

    async def _join(self, conn: FakeConnection, message: Message) -> None:
        if self.join_error is not None:
            await conn.send(reply(message, "error", {"reason": self.join_error}))
            return
        conn.joined, conn.join_ref = True, message.join_ref or message.ref
        self.joins += 1
        response = {"service": self.service, "token": conn.token, "num_consumers": len(self.joined)}
        await conn.send(reply(message, "ok", response))
        others = [c for c in self.joined if c is not conn]
        for other in others:
            await self.push("num_consumers", {"num_consumers": len(self.joined)}, other)
