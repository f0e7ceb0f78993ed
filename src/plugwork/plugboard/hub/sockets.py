"""The consumer WebSocket at ``/websocket``: connect-time checks, then one channel loop per connection.

Connect params come from the query string (``token``, ``actions``, ``vsn``); the token may instead come as
the subprotocol pair ``["phoenix", "base64url.bearer.phx.<b64>"]`` that newer JS clients send, and the
actions map as ``{"actions": {...}}`` in the ``phx_join`` payload (a large map does not fit in a URL).
A refused connection gets an HTTP status and the reason as the body when the server supports WebSocket denial
responses (uvicorn does), otherwise an accepted-then-closed socket whose close reason is the refusal.

A frame that cannot be decoded (bad JSON, wrong arity, over the size limit) closes that socket cleanly with
a reason; a decodable frame on a wrong topic or event gets an error ``phx_reply``. Neither touches any other
connection.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import logging
import time
from typing import TYPE_CHECKING, Any

import orjson
from starlette.responses import PlainTextResponse
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket

from ...errors import ProtocolError
from ..protocol import (
    HEARTBEAT,
    PHOENIX_TOPIC,
    PHX_JOIN,
    PHX_LEAVE,
    SERVICE_TOPIC,
    Message,
    Serializer,
    reply,
    serializer_for,
)
from .models import Service, ServiceToken, new_id
from .revocation import REVOKED_CLOSE_CODE
from .router import Answer
from .wsprotocol import FRAMES_EXTENSION, HubWebSocketProtocol

if TYPE_CHECKING:
    from .core import Hub

log = logging.getLogger(__name__)

INVALID_TOKEN = "Service API token is invalid"
AUTH_REQUIRED = "Authentication required"
ACTIONS_MISMATCH = "Current consumer actions do not match other registered consumer actions"
TOKEN_SUBPROTOCOL = "base64url.bearer.phx."
MAX_CLOSE_REASON = 120  # bytes; WebSocket close reasons are limited to 123


def token_from_subprotocols(subprotocols: list[str]) -> str | None:
    """The token carried as ``base64url.bearer.phx.<b64>``, if offered."""
    for protocol in subprotocols:
        if protocol.startswith(TOKEN_SUBPROTOCOL):
            # phoenix.js sends btoa(token) without padding (standard alphabet); accept base64url too
            encoded = protocol[len(TOKEN_SUBPROTOCOL) :].replace("-", "+").replace("_", "/")
            try:
                return base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True).decode()
            except (binascii.Error, UnicodeDecodeError, ValueError):
                return None
    return None


async def refuse(websocket: WebSocket, status: int, reason: str) -> None:
    """Turn a connection down with ``reason``: an HTTP denial if possible, else accept and close."""
    if "websocket.http.response" in websocket.scope.get("extensions", {}):
        await websocket.send_denial_response(PlainTextResponse(reason, status_code=status))
        return
    await websocket.accept()
    await websocket.close(code=1008, reason=reason[:MAX_CLOSE_REASON])


def canonical_actions(raw: str | None) -> str:
    """The actions map as compact, key-sorted JSON (ProtocolError if it is not a JSON object)."""
    if raw is None or raw == "":
        return "{}"
    try:
        actions = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ProtocolError(f"actions is not valid JSON: {exc}") from None
    if not isinstance(actions, dict):
        raise ProtocolError("actions must be a JSON object mapping action names to their schemas")
    return orjson.dumps(actions, option=orjson.OPT_SORT_KEYS).decode()


async def serve_consumer(hub: Hub, scope: Scope, receive: Receive, send: Send) -> None:
    """The ``/websocket`` endpoint: check the connect params, then run the channel loop."""
    websocket = WebSocket(scope, receive, send)  # for the handshake; frames then go through raw ASGI
    params = websocket.query_params
    offered = list(websocket.scope.get("subprotocols") or [])
    try:
        serializer = serializer_for(params.get("vsn"))
    except ProtocolError as exc:
        return await refuse(websocket, 400, str(exc))
    secret = params.get("token") or token_from_subprotocols(offered)
    if not secret:
        return await refuse(websocket, 401, AUTH_REQUIRED)
    try:
        token = await hub.authenticate_consumer(secret)
        service = await hub.service(token.service_id) if token is not None else None
    except Exception as exc:  # the store failed: refuse cleanly rather than crash the handshake
        return await refuse(websocket, 503, f"the hub store is unavailable: {exc}")
    if token is None or service is None:
        return await refuse(websocket, 403, INVALID_TOKEN)
    raw_actions = params.get("actions")
    actions = None  # not in the URL: the phx_join payload may carry it (a map too long for a URL)
    if raw_actions is not None:
        if len(raw_actions) > hub.settings.max_actions_bytes:
            return await refuse(websocket, 413, f"actions exceeds {hub.settings.max_actions_bytes} bytes")
        try:
            actions = canonical_actions(raw_actions)
        except ProtocolError as exc:
            return await refuse(websocket, 400, str(exc))
        try:
            conflict = await hub.actions_conflict(service.id, actions)
        except Exception as exc:  # the backplane's registry is out of reach
            return await refuse(websocket, 503, f"the consumer registry is unavailable: {exc}")
        if conflict:
            return await refuse(websocket, 403, ACTIONS_MISMATCH)
    await websocket.accept(subprotocol="phoenix" if "phoenix" in offered else None)
    direct = scope.get("extensions", {}).get(FRAMES_EXTENSION)
    frames: HubWebSocketProtocol | None = direct["protocol"] if direct else None
    socket = ConsumerSocket(hub, receive, send, serializer, service, token, actions, frames)
    await socket.run()
    return None


def request_message(
    ref: str, action: str, fields: Any, headers: dict[str, str] | None, join_ref: str | None
) -> Message:
    """The ``request`` push for a producer's request, with its carried headers."""
    payload = {"action": action, "fields": fields, "response_ref": ref}
    if headers:
        payload["headers"] = headers
    return Message(SERVICE_TOPIC, "request", payload, None, join_ref)


MALFORMED = "response payload must be {status_code: int 200..599, message: str|null, fields: {...}}"


def response_answer(payload: Any) -> Answer | None:
    """The producer's answer from a ``response`` payload; None when the payload is malformed."""
    if not isinstance(payload, dict):
        return None
    status, message = payload.get("status_code"), payload.get("message")
    if (
        not isinstance(status, int)
        or isinstance(status, bool)
        or not 200 <= status <= 599
        or not (message is None or isinstance(message, str))
    ):
        return None
    fields = payload.get("fields")
    return Answer(status, message, {} if fields is None else fields)


class ConsumerSocket:
    """One consumer connection: heartbeats, the ``service`` channel, requests out and responses in."""

    def __init__(
        self,
        hub: Hub,
        receive: Receive,
        send: Send,
        serializer: Serializer,
        service: Service,
        token: ServiceToken,
        actions: str | None,
        frames: HubWebSocketProtocol | None = None,
    ) -> None:
        self.hub = hub
        self._receive = receive
        self._frames = frames
        """The direct path for frames (:mod:`.wsprotocol`), when the server offers it."""
        self.serializer = serializer
        self.service = service
        self.service_id = service.id
        self.token = token
        self.actions = actions
        self.id = new_id()
        self.join_ref: str | None = None
        self.joined = False
        # response_ref -> (hub id, when), for the requests other hubs routed here
        self.forwarded: dict[str, tuple[str, float]] = {}
        self.last_seen = time.monotonic()
        self._closed = False
        self._send = send

    async def run(self) -> None:
        hub = self.hub
        hub.connections.add(self)
        revoked = hub.revocations.refusal(self)  # deleted while this socket was being accepted
        if revoked is not None:
            await self.close(REVOKED_CLOSE_CODE, revoked)
        decode = self.serializer.decode
        limit = hub.settings.max_frame_bytes
        receive = self._receive
        if self._frames is not None:
            self._frames.on_frame = self.take_frame
        try:
            while True:
                message = await receive()
                if message["type"] != "websocket.receive":
                    break
                self.last_seen = time.monotonic()
                frame = message.get("text")
                if frame is None:
                    frame = message.get("bytes") or b""
                if len(frame) > limit:
                    await self.close(1009, f"frame of {len(frame)} bytes is over the {limit}-byte limit")
                    break
                try:
                    msg = decode(frame)
                except ProtocolError as exc:
                    await self.close(1007, f"malformed frame: {exc}")
                    break
                await self.handle(msg)
        except Exception as exc:  # a broken socket must never take the hub with it
            log.debug("plugboard hub: consumer socket %s ended: %r", self.id, exc)
        finally:
            self._closed = True
            hub.connections.discard(self)
            await hub.leave(self, "the consumer's socket closed")

    async def handle(self, msg: Message) -> None:
        topic, event = msg.topic, msg.event
        if topic == SERVICE_TOPIC:
            if event == "response" and self.joined:
                await self.on_response(msg)
            elif event == PHX_JOIN:
                await self.on_join(msg)
            elif not self.joined:
                await self.send(reply(msg, "error", {"reason": "unmatched topic"}))
            elif event == PHX_LEAVE:
                self.joined = False
                await self.hub.leave(self, "the consumer left the channel")
                await self.send(reply(msg))
            else:
                await self.send(reply(msg, "error", {"reason": f"unknown event {event!r}"}))
        elif topic == PHOENIX_TOPIC and event == HEARTBEAT:
            await self.send(reply(msg))
        elif topic == PHOENIX_TOPIC:
            await self.send(reply(msg, "error", {"reason": f"unknown event {event!r}"}))
        else:
            await self.send(reply(msg, "error", {"reason": "unmatched topic"}))

    async def on_join(self, msg: Message) -> None:
        if not self.joined:
            problem = await self.declare_actions(msg.payload)
            if problem is not None:
                await self.send(reply(msg, "error", {"reason": problem}))
                return
        self.join_ref = msg.join_ref if msg.join_ref is not None else msg.ref
        if self.joined:
            count = self.hub.router.count(self.service_id)
        else:
            self.joined = True
            count = await self.hub.join(self)
        response = {
            "service": self.service.to_json(),
            "token": self.token.to_json(with_value=False),
            "num_consumers": count,
        }
        await self.send(reply(msg, "ok", response))
        self.hub.consumers_changed(self.service_id)

    async def declare_actions(self, payload: Any) -> str | None:
        """Settle this consumer's actions map at join; the reason to refuse the join, or None.

        The map comes from the URL (checked at connect) or from the join payload ``{"actions": {...}}``,
        where a map of any size up to ``max_actions_bytes`` fits; given in both, the two must agree.
        Either way it must match the maps of the service's other consumers, which may have joined since.
        """
        given = payload.get("actions") if isinstance(payload, dict) else None
        declared = self.actions
        if given is not None:
            if not isinstance(given, dict):
                return "actions must be a JSON object mapping action names to their schemas"
            canonical = orjson.dumps(given, option=orjson.OPT_SORT_KEYS).decode()
            limit = self.hub.settings.max_actions_bytes
            if len(canonical) > limit:
                return f"actions exceeds {limit} bytes"
            if declared is not None and canonical != declared:
                return "the actions in the join payload differ from the actions in the URL"
            declared = canonical
        declared = declared or "{}"
        try:
            if await self.hub.actions_conflict(self.service_id, declared):
                return ACTIONS_MISMATCH
        except Exception as exc:  # the backplane's registry is out of reach
            return f"the consumer registry is unavailable: {exc}"
        self.actions = declared
        return None

    def take_frame(self, frame: bytes) -> bool:
        """The direct path (:mod:`.wsprotocol`): settle a well-formed ``response`` here, at once; anything
        else (False) goes through the receive queue to :meth:`run`, which answers what needs an answer."""
        if not self.joined or len(frame) > self.hub.settings.max_frame_bytes:
            return False
        try:
            msg = self.serializer.decode(frame)
        except ProtocolError:
            return False
        if msg.event != "response" or msg.topic != SERVICE_TOPIC or msg.ref is None:
            return False
        answer = response_answer(msg.payload)
        if answer is None:
            return False
        self.last_seen = time.monotonic()
        self.hub.answer(self, msg.ref, answer)
        return True

    async def on_response(self, msg: Message) -> None:
        ref = msg.ref
        if ref is None:
            reason = "a response needs ref = the request's response_ref"
            await self.send(reply(msg, "error", {"reason": reason}))
            return
        answer = response_answer(msg.payload)
        if answer is None:
            malformed = Answer(502, f"the consumer sent a malformed response: {MALFORMED}", {})
            self.hub.answer(self, ref, malformed)
            await self.send(reply(msg, "error", {"reason": MALFORMED}))
            return
        self.hub.answer(self, ref, answer)

    # -- sending ---------------------------------------------------------------------------------------------

    async def send(self, message: Message) -> None:
        frames = self._frames
        if frames is None:
            await self._send({"type": "websocket.send", "text": self.serializer.encode(message)})
            return
        if not frames.writable.is_set():  # the consumer is not reading: wait, as uvicorn's send would
            await frames.writable.wait()
        frames.send_text(self.serializer.encode_bytes(message))

    async def send_request(
        self, ref: str, action: str, fields: Any, headers: dict[str, str] | None = None
    ) -> None:
        """Push a producer's request on ``service`` (the router's send function), with its carried headers."""
        await self.send(request_message(ref, action, fields, headers, self.join_ref))

    def send_request_now(self, ref: str, action: str, fields: Any, headers: dict[str, str] | None) -> bool:
        """The same without waiting, on the direct path (the router's ``send_now``); False when it cannot:
        no direct path, or the consumer is not reading (then :meth:`send_request` waits for it)."""
        frames = self._frames
        if frames is None or not frames.writable.is_set():
            return False
        message = request_message(ref, action, fields, headers, self.join_ref)
        frames.send_text(self.serializer.encode_bytes(message))
        return True

    async def push(self, event: str, payload: dict[str, Any]) -> None:
        """Push an event on ``service``; a socket that is gone is ignored."""
        if self._closed or not self.joined:
            return
        with contextlib.suppress(Exception):
            await self.send(Message(SERVICE_TOPIC, event, payload, None, self.join_ref))

    async def push_and_close(self, event: str, payload: dict[str, Any]) -> None:
        await self.push(event, payload)
        await self.close(1000, event.replace("_", " "))

    async def close(self, code: int, reason: str) -> None:
        """Close the socket (once); its run loop then ends and cleans up."""
        if self._closed:
            return
        self._closed = True
        encoded = reason.encode()[:MAX_CLOSE_REASON].decode(errors="ignore")
        with contextlib.suppress(Exception):
            await self._send({"type": "websocket.close", "code": code, "reason": encoded})
