"""The hub's WebSocket protocol: uvicorn's ``websockets-sansio`` one, with a direct path for frames and two
defects of it fixed.

The direct path: the protocol offers itself to the app as the scope extension :data:`FRAMES_EXTENSION`.
The hub's socket code (:mod:`.sockets`) then sets :attr:`HubWebSocketProtocol.on_frame`, which sees each
text frame as soon as it is read (while nothing waits in the ASGI receive queue, so that the order of
messages holds); a frame it takes is settled there, without the receive queue, a decode to ``str`` and
uvicorn's pause and resume of reading around every queued message. Anything it declines goes through the
ASGI queue as before. Data frames are cut by :class:`~plugwork.plugboard.frames.FrameReader` (websockets'
parser costs 3-4 µs a frame; it still gets pings, closes and anything malformed).
:meth:`HubWebSocketProtocol.send_text` sends without the ASGI message, and the frames sent within one
event-loop tick leave in one write (a burst of producer requests to one consumer is one system call
instead of one each).

The fixes:

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
from collections.abc import Callable
from typing import Any

from uvicorn.protocols.utils import ClientDisconnected
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.datastructures import Headers
from websockets.exceptions import InvalidMessage, InvalidState
from websockets.frames import Frame, Opcode
from websockets.http11 import MAX_LINE_LENGTH, Request, Response
from websockets.protocol import State

from ..frames import TEXT, DataFrame, FrameReader

log = logging.getLogger(__name__)

ACTIONS_HINT = 'send the actions map in the phx_join payload ({"actions": {...}}) instead of the URL'
FRAMES_EXTENSION = "plugwork.websocket.frames"
"""The scope extension ``{"protocol": HubWebSocketProtocol}`` of a socket that offers the direct path."""


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
    """uvicorn's sans-I/O websockets protocol with a direct path for frames (see the module docstring),
    answering unparsable handshakes and denials cleanly."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.on_frame: Callable[[bytes], bool] | None = None
        """Offered each whole text frame first; True when it took it, False to queue it for ``receive()``."""
        self._flush_scheduled = False
        self._reading = False  # in data_received: frames sent now leave when the read is handled
        self._reader: FrameReader | None = None

    # -- the direct path -------------------------------------------------------------------------------------

    def handle_connect(self, event: Request) -> None:
        super().handle_connect(event)
        if not self.handshake_complete:  # the app runs (its task has not started yet): offer the direct path
            self.scope["extensions"][FRAMES_EXTENSION] = {"protocol": self}

    def handle_text(self, event: Frame) -> None:
        # bytes(): the data is bytes already, and bytes() returns it as it is
        if not (event.fin and self._offer(bytes(event.data))):
            super().handle_text(event)

    def _offer(self, data: bytes) -> bool:
        handler = self.on_frame
        return handler is not None and self.queue.empty() and not self.close_sent and handler(data)

    def _at_frame_boundary(self) -> bool:
        # The first read after the handshake, when websockets holds no partial frame: from then on, the
        # frame reader cuts the stream, and websockets sees only whole frames.
        return (
            self.handshake_complete
            and self.initial_response is None
            and self.conn.state is State.OPEN
            and not self.conn.reader.buffer
        )

    def _data_frame(self, frame: DataFrame) -> None:
        opcode, fin, payload = frame
        if self.conn.state is not State.OPEN:
            return  # after a close, as websockets' parser would: data is discarded
        if opcode == TEXT and fin and self._offer(payload):
            return
        event = Frame(Opcode(opcode), payload, fin)
        if opcode == TEXT:
            super().handle_text(event)
        elif opcode == Opcode.BINARY:
            self.handle_bytes(event)
        else:
            self.handle_cont(event)

    def send_text(self, data: bytes) -> None:
        """Send a UTF-8 text frame with the other frames of this tick (ClientDisconnected if closing)."""
        if self.disconnected or self.close_sent or not self.handshake_complete:
            raise ClientDisconnected()
        try:
            self.conn.send_text(data)
        except InvalidState:
            raise ClientDisconnected() from None
        if not self._flush_scheduled:
            self._flush_scheduled = True
            if not self._reading:
                self.loop.call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_scheduled = False
        output = self.conn.data_to_send()
        if output and not self.transport.is_closing():
            self.transport.writelines(output)

    def _read_frames(self, data: bytes) -> None:
        # Answers read here free slots, and the router sends the next queued requests on them at once:
        # they leave when this read is handled, before the producers' tasks write their HTTP answers.
        self._reading = True
        try:
            reader = self._reader
            if reader is None and self._at_frame_boundary():
                reader = self._reader = FrameReader(masked=True, max_size=self.config.ws_max_size)
            if reader is None:
                super().data_received(data)
                return
            for frame in reader.feed(data):
                if isinstance(frame, bytes):
                    super().data_received(frame)  # a ping, a close, or what the reader would not read
                else:
                    self._data_frame(frame)
        finally:
            self._reading = False
            if self._flush_scheduled:
                self._flush()

    # -- the fixes -------------------------------------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        if self.handshake_initiated:
            self._read_frames(data)
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
