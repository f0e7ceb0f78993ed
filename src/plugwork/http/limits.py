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

A WebSocket handshake is an HTTP request until it is upgraded, so the same limits cover it. The shared
part (timers, refusals, the lingering close) is :class:`LimitsMixin`; each implementation's subclass is in
its own module (``httptools_limits``, ``h11_limits``).
``uvicorn --http plugwork.http.limits:HttpToolsLimits`` (or ``:H11Limits``) gives a plain uvicorn the
defaults; ``plugwork run`` and ``plugwork hub`` pass their settings.
"""

from __future__ import annotations

import asyncio
import importlib.util
import logging
from dataclasses import dataclass
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from uvicorn.protocols.http.flow_control import FlowControl
    from uvicorn.server import ServerState

    from ..config import Settings

__all__ = ["HttpLimits", "LimitsMixin", "ResponseTransport", "protocol_class"]

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
    send_timeout: float = 30.0

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
            send_timeout=settings.http_send_timeout_seconds,
        )


def protocol_class(limits: HttpLimits, implementation: str = "auto") -> type[asyncio.Protocol]:
    """uvicorn's ``http`` option: ``implementation`` ("auto", "httptools" or "h11") held to ``limits``."""
    if implementation == "auto":
        implementation = "httptools" if importlib.util.find_spec("httptools") is not None else "h11"
    if implementation == "httptools":
        from .httptools_limits import HttpToolsLimits

        base: type[asyncio.Protocol] = HttpToolsLimits
    elif implementation == "h11":
        from .h11_limits import H11Limits

        base = H11Limits
    else:
        raise ValueError(f"no connection limits for uvicorn's {implementation!r} HTTP implementation")
    return type(base.__name__, (base,), {"limits": limits})


class ResponseTransport:
    """The transport as a response cycle sees it.

    uvicorn writes a response's head and its body separately: two system calls (and two TCP segments) for
    every small answer. Here a write is held until the next one, and the two leave together; what is still
    held goes out when the response completes, before a close, and at the latest at the end of the
    event-loop tick (a streamed response's head is not delayed past it). ``close()`` after an answer
    lingers when needed.
    """

    __slots__ = ("_held", "_loop", "_protocol", "_transport", "is_closing")

    def __init__(
        self, protocol: LimitsMixin, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop
    ) -> None:
        self._protocol = protocol
        self._transport = transport
        self._loop = loop
        self._held: bytes | None = None
        self.is_closing = transport.is_closing

    def write(self, data: bytes) -> None:
        """Write ``data`` with the next write, or by the end of this tick."""
        held = self._held
        if held is None:
            self._held = data
            self._loop.call_soon(self.flush)
        else:
            self._held = None
            self._transport.writelines((held, data))

    def flush(self) -> None:
        """Write what is held now."""
        held = self._held
        if held is not None:
            self._held = None
            if not self._transport.is_closing():
                self._transport.write(held)

    def close(self) -> None:
        """The cycle's close after its response: linger if the request is still arriving."""
        self.flush()
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
        self.write_timer: asyncio.TimerHandle | None = None
        self.lingering = False
        self.upgraded = False
        self.linger_left = 0
        self.response_transport: Any = None

    # The asyncio protocol hooks, around uvicorn's own (the mixin comes first in the subclasses' MRO).
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)  # type: ignore[misc]
        self.limits_connection_made()

    def connection_lost(self, exc: Exception | None) -> None:
        self.limits_connection_lost()
        super().connection_lost(exc)  # type: ignore[misc]

    def pause_writing(self) -> None:
        super().pause_writing()  # type: ignore[misc]
        self.limits_pause_writing()

    def resume_writing(self) -> None:
        super().resume_writing()  # type: ignore[misc]
        self.limits_resume_writing()

    def limits_connection_made(self) -> None:
        """Arm the idle timer at once: a socket that never sends a byte is closed like an idle keep-alive."""
        self.response_transport = ResponseTransport(self, self.transport, self.loop)
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
        for timer in (self.linger_timer, self.write_timer):
            if timer is not None:
                timer.cancel()
        self.linger_timer = self.write_timer = None

    def limits_pause_writing(self) -> None:
        """The client stopped reading the answer: it has ``send_timeout`` seconds to start again."""
        if self.write_timer is None:
            self.write_timer = self.loop.call_later(self.limits.send_timeout, self._send_timed_out)

    def limits_resume_writing(self) -> None:
        """The client reads again."""
        if self.write_timer is not None:
            self.write_timer.cancel()
            self.write_timer = None

    def _send_timed_out(self) -> None:
        self.write_timer = None
        client = self.transport.get_extra_info("peername")
        log.info(
            "HTTP: dropped, the client read nothing for %ss (client %s)",
            self.limits.send_timeout,
            client[0] if client else "?",
        )
        # close() would wait to flush what the client does not read: drop it, and the connection.
        self.transport.abort()

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
        self.response_transport.flush()
        transport.write(refusal(status, message))
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
        self.response_transport.flush()  # the answer first, then the end of the stream
        self.lingering = True
        self.cancel_timers()
        self.linger_left = self.limits.linger_bytes
        self.flow.resume_reading()
        if transport.can_write_eof():
            transport.write_eof()  # the client sees the end of the answer while it is still sending
        self.linger_timer = self.loop.call_later(self.limits.linger_timeout, self._linger_over)

    def drain(self, data: bytes) -> None:
        """Discard lingering input; close once the byte bound is passed."""
        self.linger_left -= len(data)
        if self.linger_left < 0:
            self._linger_over()

    def _linger_over(self) -> None:
        self.linger_timer = None
        transport = self.transport
        if transport.get_write_buffer_size():
            transport.abort()  # the client reads nothing either: close() would wait for it forever
        else:
            transport.close()


def refusal(status: int, message: str) -> bytes:
    """A whole ``connection: close`` answer with a plain-text reason."""
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


def __getattr__(name: str) -> Any:
    # ``uvicorn --http plugwork.http.limits:HttpToolsLimits`` (or ``:H11Limits``); the protocol modules
    # import this one, and httptools is the ``speed`` extra: loaded on first use only.
    if name == "HttpToolsLimits":
        from .httptools_limits import HttpToolsLimits

        return HttpToolsLimits
    if name == "H11Limits":
        from .h11_limits import H11Limits

        return H11Limits
    raise AttributeError(name)
