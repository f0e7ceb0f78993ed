"""The hub's WebSocket protocol: uvicorn's ``websockets-sansio`` one, with two defects of it fixed.

1. A handshake websockets cannot parse — a request line over its 8 KiB limit (a consumer's long ``actions``
   query), header lines too long or too many — gets an answer. uvicorn feeds the bytes to websockets, which
   prepares a 414/431 response, but uvicorn only writes what websockets produces when it yields a request:
   the client heard nothing and waited for its own timeout. Here the refusal is written at once, with a
   reason a consumer's log can show, and the connection closed.
2. A connection refused with a denial response (``websocket.http.response.*``, what
   :func:`~plugwork.plugboard.hub.sockets.refuse` sends) is a completed handshake. uvicorn never marks it
   so, and logs ``ASGI callable returned without completing handshake`` at ERROR for every refused consumer
   (uvicorn pull request #3138 makes the same change; this class can go once a release has it).
"""

from __future__ import annotations

import logging
from typing import Any

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.datastructures import Headers
from websockets.exceptions import InvalidMessage
from websockets.http11 import MAX_LINE_LENGTH, Response

log = logging.getLogger(__name__)

ACTIONS_HINT = 'send the actions map in the phx_join payload ({"actions": {...}}) instead of the URL'


def handshake_refusal(exc: BaseException) -> tuple[int, str]:
    """The HTTP status and reason for a handshake that could not be parsed."""
    name = type(exc).__name__
    if name == "RequestLineTooLong":
        return 414, f"the request line is over {MAX_LINE_LENGTH} bytes: {ACTIONS_HINT}"
    if name in ("HeaderLineTooLong", "TooManyHeaders"):
        return 431, f"the request's header fields are too large: {exc}"
    if isinstance(exc, InvalidMessage):
        return 400, "not a valid HTTP request"
    return 400, f"not a valid WebSocket handshake: {exc}"


class HubWebSocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's sans-I/O websockets protocol, answering unparsable handshakes and denials cleanly."""

    def data_received(self, data: bytes) -> None:
        if self.handshake_initiated:
            super().data_received(data)
            return
        self.conn.receive_data(data)
        exc = self.conn.handshake_exc
        if exc is not None:
            self._refuse_unparsable(exc)
            return
        if self.conn.parser_exc is not None:  # pragma: no cover - as in uvicorn
            self.handle_parser_exception()
            return
        self.handle_events()

    def _refuse_unparsable(self, exc: BaseException) -> None:
        status, reason = handshake_refusal(exc)
        self.conn.data_to_send()  # websockets' own answer, if it made one: ours names the remedy
        body = (reason + "\n").encode()
        headers = Headers(
            [
                ("Content-Type", "text/plain; charset=utf-8"),
                ("Content-Length", str(len(body))),
                ("Connection", "close"),
            ]
        )
        phrase = {400: "Bad Request", 414: "URI Too Long", 431: "Request Header Fields Too Large"}[status]
        self.handshake_initiated = self.handshake_complete = self.close_sent = True
        # The client and status only: the request line is what did not fit, and it may hold a token.
        log.info("WebSocket handshake refused (%d, %s) from %s", status, reason, _client(self.client))
        self.transport.write(Response(status, phrase, headers, body).serialize())
        self.transport.close()

    async def send(self, message: Any) -> None:
        await super().send(message)
        if message["type"] == "websocket.http.response.body" and not message.get("more_body", False):
            self.handshake_complete = True  # the denial response is on the wire: the handshake is over


def _client(client: tuple[str, int] | None) -> str:
    return f"{client[0]}:{client[1]}" if client else "?"
