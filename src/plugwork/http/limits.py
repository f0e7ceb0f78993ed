"""Connection limits for uvicorn's HTTP/1.1 protocols: header size and time, body time, idle keep-alive, and a
lingering close.

uvicorn bounds none of these by itself: httptools takes headers of any size, a connection that sends nothing
(or half a request) stays open, and a connection closed while its client is still sending the body is reset,
so a client such as urllib gets ``ECONNRESET`` instead of the 413 it was sent. :func:`protocol_class`
returns a subclass of the HTTP implementation uvicorn would pick (httptools with the ``speed`` extra, h11
otherwise) that:

- answers 431 when the request line and headers pass ``max_header_bytes``;
- answers 408 when the headers take longer than ``header_timeout`` from their first byte, or the body longer
  than ``body_timeout`` from the end of the headers (the app then reads ``http.disconnect``);
- closes a connection that starts no request for ``keep_alive_timeout`` seconds, from its opening too;
- when it answers before the request body has arrived (a 413, any early answer, or one of the refusals
  above), sends the answer, half-closes, then reads and discards up to ``linger_bytes`` for up to
  ``linger_timeout`` seconds before closing (nginx's lingering close), so that the client reads the answer.

A WebSocket handshake is an HTTP request until it is upgraded, so the same limits cover it.
``uvicorn --http plugwork.http.limits:HttpToolsLimits`` (or ``:H11Limits``) gives a plain uvicorn the
defaults; ``plugwork run`` and ``plugwork hub`` pass their settings.
"""

from __future__ import annotations

import asyncio
import importlib.util
import logging
from dataclasses import dataclass
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, ClassVar, cast

import h11
from uvicorn.config import Config
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.server import ServerState

if TYPE_CHECKING:
    from uvicorn.protocols.http.flow_control import FlowControl

    from ..config import Settings

__all__ = ["H11Limits", "HttpLimits", "protocol_class"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class HttpLimits:
    """The bounds every HTTP connection is held to (seconds and bytes)."""

    max_header_bytes: int = 64 * 1024
    header_timeout: float = 10.0
    body_timeout: float = 30.0
    keep_alive_timeout: float = 5.0
    linger_bytes: int = 64 * 1024 * 1024
    linger_timeout: float = 5.0

    @classmethod
    def from_settings(cls, settings: Settings) -> HttpLimits:
        """The limits an app's ``http_*`` settings give."""
        return cls(
            max_header_bytes=settings.http_max_header_bytes,
            header_timeout=settings.http_header_timeout_seconds,
            body_timeout=settings.http_body_timeout_seconds,
            keep_alive_timeout=settings.http_keep_alive_seconds,
            linger_bytes=settings.http_linger_bytes,
            linger_timeout=settings.http_linger_seconds,
        )


def protocol_class(limits: HttpLimits, implementation: str = "auto") -> type[asyncio.Protocol]:
    """uvicorn's ``http`` option: ``implementation`` ("auto", "httptools" or "h11") held to ``limits``."""
    if implementation == "auto":
        implementation = "httptools" if importlib.util.find_spec("httptools") is not None else "h11"
    if implementation == "httptools":
        from .httptools_limits import HttpToolsLimits

        base: type[asyncio.Protocol] = HttpToolsLimits
    elif implementation == "h11":
        base = H11Limits
    else:
        raise ValueError(f"no connection limits for uvicorn's {implementation!r} HTTP implementation")
    return type(base.__name__, (base,), {"limits": limits})


class ResponseTransport:
    """The transport as a response cycle sees it: its ``close()`` after an answer lingers when needed."""

    __slots__ = ("_protocol", "is_closing", "write")

    def __init__(self, protocol: LimitsMixin, transport: asyncio.Transport) -> None:
        self._protocol = protocol
        self.write = transport.write
        self.is_closing = transport.is_closing

    def close(self) -> None:
        """The cycle's close after its response: linger if the request is still arriving."""
        self._protocol.close_after_response()


class LimitsMixin:
    """Timers, refusals and the lingering close shared by the httptools and h11 protocols.

    The subclass sets ``response_transport`` on each new cycle and answers :meth:`request_incomplete`.
    """

    limits: ClassVar[HttpLimits] = HttpLimits()

    if TYPE_CHECKING:
        transport: asyncio.Transport
        loop: asyncio.AbstractEventLoop
        flow: FlowControl
        cycle: Any
        server_state: ServerState
        timeout_keep_alive_task: asyncio.TimerHandle | None

        def timeout_keep_alive_handler(self) -> None: ...

    def init_limits(self) -> None:
        """Per-connection state; called from ``__init__``."""
        self.header_timer: asyncio.TimerHandle | None = None
        self.body_timer: asyncio.TimerHandle | None = None
        self.linger_timer: asyncio.TimerHandle | None = None
        self.lingering = False
        self.upgraded = False
        self.linger_left = 0
        self.response_transport: Any = None

    def limits_connection_made(self) -> None:
        """Arm the idle timer at once: a socket that never sends a byte is closed like an idle keep-alive."""
        self.response_transport = ResponseTransport(self, self.transport)
        self.timeout_keep_alive_task = self.loop.call_later(
            self.limits.keep_alive_timeout, self.timeout_keep_alive_handler
        )

    def request_incomplete(self) -> bool:
        """Whether the body of the request being answered is still arriving."""
        raise NotImplementedError

    def pipelined(self) -> bool:
        """Whether requests wait behind the one being answered (then a refusal cannot be written)."""
        return False

    def track_timers(self, head_partial: bool, in_body: bool) -> None:
        """After each read: time a started head, time a started body, stop the timers of what is complete."""
        if head_partial:
            if self.header_timer is None:
                self.header_timer = self.loop.call_later(self.limits.header_timeout, self._header_timed_out)
        elif self.header_timer is not None:
            self.header_timer.cancel()
            self.header_timer = None
        if in_body:
            if self.body_timer is None:
                self.body_timer = self.loop.call_later(self.limits.body_timeout, self._body_timed_out)
        elif self.body_timer is not None:
            self.body_timer.cancel()
            self.body_timer = None

    def cancel_timers(self) -> None:
        """Stop this connection's own timers and uvicorn's keep-alive one."""
        for timer in (self.header_timer, self.body_timer, self.timeout_keep_alive_task):
            if timer is not None:
                timer.cancel()
        self.header_timer = self.body_timer = self.timeout_keep_alive_task = None

    def limits_connection_lost(self) -> None:
        """Drop every timer when the connection ends."""
        self.cancel_timers()
        if self.linger_timer is not None:
            self.linger_timer.cancel()
            self.linger_timer = None

    def _header_timed_out(self) -> None:
        self.header_timer = None
        cycle = self.cycle
        if cycle is not None and not cycle.response_complete:
            cycle.keep_alive = False  # a pipelined request is late: close once the current answer is sent
            return
        self.refuse(408, "The request headers took too long.")

    def _body_timed_out(self) -> None:
        self.body_timer = None
        cycle = self.cycle
        if cycle is not None and not cycle.response_complete:
            self.refuse(408, "The request body took too long.")

    def refuse(self, status: int, message: str) -> None:
        """Answer ``status`` without the app, then close after a lingering drain.

        A cycle still in progress is told the client is gone (its ``receive`` returns ``http.disconnect`` and
        its ``send`` does nothing); one that already started its answer cannot be interrupted cleanly, so the
        connection is closed at once.
        """
        transport = self.transport
        if self.lingering or transport.is_closing():
            return
        cycle = self.cycle
        if self.pipelined():
            transport.close()
            return
        if cycle is not None and not cycle.response_complete:
            cycle.disconnected = True
            cycle.message_event.set()
            if cycle.response_started:
                transport.close()
                return
        client = transport.get_extra_info("peername")
        log.info("HTTP %d: %s (client %s)", status, message, client[0] if client else "?")
        transport.write(_refusal(status, message))
        self.linger()

    def close_after_response(self) -> None:
        """Close after an answer: at once, unless the request body is still arriving."""
        if self.lingering:
            return
        if self.request_incomplete():
            self.linger()
        else:
            self.transport.close()

    def linger(self) -> None:
        """Half-close and discard what the client still sends, within the linger bounds, then close."""
        transport = self.transport
        if transport.is_closing():
            return
        self.lingering = True
        self.cancel_timers()
        self.linger_left = self.limits.linger_bytes
        self.flow.resume_reading()
        if transport.can_write_eof():
            transport.write_eof()  # the client sees the end of the answer while it is still sending
        self.linger_timer = self.loop.call_later(self.limits.linger_timeout, transport.close)

    def drain(self, data: bytes) -> None:
        """Discard lingering input; close once the byte bound is passed."""
        self.linger_left -= len(data)
        if self.linger_left < 0:
            self.transport.close()


def _refusal(status: int, message: str) -> bytes:
    body = message.encode()
    return b"".join(
        [
            b"HTTP/1.1 %d %s\r\n" % (status, HTTPStatus(status).phrase.encode()),
            b"content-type: text/plain; charset=utf-8\r\n",
            b"content-length: %d\r\n" % len(body),
            b"connection: close\r\n\r\n",
            body,
        ]
    )


class _LimitedConnection(h11.Connection):
    """h11's server connection, with the request line and headers held to ``max_header_bytes``.

    h11 itself refuses a head still incomplete past the limit (status hint 431); a complete head that arrived
    in one read is measured here. The status of the last refusal is kept for the answer. An answer sent
    before the request body is whole says ``connection: close``.
    """

    def __init__(self, max_header_bytes: int) -> None:
        super().__init__(h11.SERVER, max_incomplete_event_size=max_header_bytes)
        self.max_header_bytes = max_header_bytes
        self.refused_status = 400

    def next_event(self) -> Any:
        try:
            event = super().next_event()
        except h11.RemoteProtocolError as exc:
            self.refused_status = exc.error_status_hint
            raise
        if type(event) is h11.Request:
            size = len(event.method) + len(event.target) + 12  # "GET / HTTP/1.1\r\n" and the final CRLF
            for name, value in event.headers:
                size += len(name) + len(value) + 4
            if size > self.max_header_bytes:
                self.refused_status = 431
                raise h11.RemoteProtocolError("Request header fields too large", error_status_hint=431)
        return event

    def send_with_data_passthrough(self, event: Any) -> list[bytes] | None:
        if type(event) is h11.Response and self.their_state is h11.SEND_BODY:
            # An answer before the whole body closes the connection (after a lingering drain), and says
            # so: a client must not send its next request into the rest of a refused body.
            headers = [*event.headers.raw_items(), (b"connection", b"close")]
            event = h11.Response(status_code=event.status_code, headers=headers, reason=event.reason)
        return super().send_with_data_passthrough(event)


class H11Limits(LimitsMixin, H11Protocol):
    """uvicorn's h11 protocol held to :class:`HttpLimits`."""

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.conn = self.limited_conn = _LimitedConnection(self.limits.max_header_bytes)
        self.timeout_keep_alive = self.limits.keep_alive_timeout  # type: ignore[assignment]
        self.init_limits()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.limits_connection_made()

    def connection_lost(self, exc: Exception | None) -> None:
        self.limits_connection_lost()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self.lingering:
            self.drain(data)
            return
        super().data_received(data)
        if self.lingering or self.upgraded or self.transport.is_closing():
            return
        state = self.conn.their_state
        # IDLE after a read means part of a head is buffered (h11 only leaves IDLE on a whole head).
        self.track_timers(state is h11.IDLE, state is h11.SEND_BODY)

    def handle_events(self) -> None:
        super().handle_events()
        cycle = self.cycle
        if cycle is not None and cycle.transport is not self.response_transport:
            cycle.transport = cast(asyncio.Transport, self.response_transport)

    def handle_websocket_upgrade(self, event: h11.Request) -> None:
        self.upgraded = True
        self.cancel_timers()
        super().handle_websocket_upgrade(event)

    def send_400_response(self, msg: str) -> None:
        status = self.limited_conn.refused_status
        self.refuse(status, "Request header fields too large." if status == 431 else msg)

    def request_incomplete(self) -> bool:
        return self.conn.their_state is h11.SEND_BODY

    def on_response_complete(self) -> None:
        if self.lingering or self.request_incomplete():
            self.server_state.total_requests += 1
            if not self.lingering:
                self.linger()  # answered before the body: the rest of it is drained, not parsed
            return
        super().on_response_complete()


def __getattr__(name: str) -> Any:
    # HttpToolsLimits imports httptools (the ``speed`` extra): loaded on first use only.
    if name == "HttpToolsLimits":
        from .httptools_limits import HttpToolsLimits

        return HttpToolsLimits
    raise AttributeError(name)
