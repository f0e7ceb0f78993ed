"""uvicorn's h11 protocol held to :class:`~plugwork.http.limits.HttpLimits` (no extra needed)."""

from __future__ import annotations

import asyncio
from typing import Any, cast

import h11
from uvicorn.config import Config
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.server import ServerState

from .limits import LimitsMixin


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
        self.response_transport.flush()
        if self.lingering or self.request_incomplete():
            self.server_state.total_requests += 1
            if not self.lingering:
                self.linger()  # answered before the body: the rest of it is drained, not parsed
            return
        super().on_response_complete()
