"""uvicorn's httptools protocol held to :class:`~plugwork.http.limits.HttpLimits` (the ``speed`` extra)."""

from __future__ import annotations

import asyncio
from typing import Any, cast

from ..extras import require

require("httptools", extra="speed")

from uvicorn.config import Config  # noqa: E402  (after the check that names the extra)
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol  # noqa: E402
from uvicorn.server import ServerState  # noqa: E402

from .limits import LimitsMixin  # noqa: E402

_TOO_LARGE = "Request header fields too large."


class _HeadTooLarge(Exception):
    """Raised from a parser callback to stop httptools after a 431."""


class HttpToolsLimits(LimitsMixin, HttpToolsProtocol):
    """httptools keeps a header of any size: the head is counted here, per read and once complete."""

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.timeout_keep_alive = self.limits.keep_alive_timeout  # type: ignore[assignment]
        self.init_limits()
        self.head_partial = False  # a request's first byte arrived, its headers are not complete
        self.head_bytes = 0  # bytes read since that first byte, before the current read
        self.read_bytes = 0  # the size of the current read
        self.keep_alive_wanted = False  # what the client asked of the request being read

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
        self.read_bytes = len(data)
        super().data_received(data)
        cycle = self.cycle
        # The common case first: a whole request was read, and no timer runs.
        if not (
            self.head_partial
            or self.header_timer is not None
            or self.body_timer is not None
            or (cycle is not None and cycle.more_body)
        ):
            return
        if self.lingering or self.upgraded or self.transport.is_closing():
            return
        if self.head_partial:
            # httptools buffers a header value until it is complete: bound what it may hold.
            self.head_bytes += len(data)
            if self.head_bytes > self.limits.max_header_bytes:
                self.refuse(431, _TOO_LARGE)
                return
        # A pipelined request's body waits (reading is paused) until the ones before it are answered.
        in_body = cycle is not None and cycle.more_body and not cycle.response_complete and not self.pipeline
        self.track_timers(self.head_partial, in_body)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self.head_partial = True
        self.head_bytes = 0

    def on_headers_complete(self) -> None:
        self.head_partial = False
        limit = self.limits.max_header_bytes
        # Only a head that could be over the limit (by the bytes read since it began) is measured.
        if self.head_bytes + self.read_bytes > limit and _head_size(self.url, self.headers) > limit:
            self.refuse(431, _TOO_LARGE)
            raise _HeadTooLarge
        previous = self.cycle
        super().on_headers_complete()
        cycle = self.cycle
        if cycle is not previous:
            cycle.transport = cast(asyncio.Transport, self.response_transport)
            # Until the body is whole, an answer says "connection: close" (and the connection lingers
            # closed): a client must not send its next request into the rest of a refused body.
            self.keep_alive_wanted = cycle.keep_alive
            cycle.keep_alive = False

    def on_message_complete(self) -> None:
        super().on_message_complete()
        cycle = self.cycle
        if cycle is not None and not cycle.response_started:
            cycle.keep_alive = self.keep_alive_wanted

    def shutdown(self) -> None:
        self.keep_alive_wanted = False  # uvicorn's graceful stop: no answer keeps its connection
        super().shutdown()

    def handle_websocket_upgrade(self) -> None:
        self.upgraded = True
        self.cancel_timers()
        super().handle_websocket_upgrade()

    def send_400_response(self, msg: str) -> None:
        self.refuse(400, msg)

    def request_incomplete(self) -> bool:
        # With requests queued behind it, the one being answered was read whole.
        cycle = self.cycle
        return cycle is not None and cycle.more_body and not self.pipeline

    def pipelined(self) -> bool:
        return bool(self.pipeline)

    def on_response_complete(self) -> None:
        if self.lingering or self.request_incomplete():
            self.server_state.total_requests += 1
            if not self.lingering:
                self.linger()  # answered before the body: the rest of it is drained, not parsed
            return
        super().on_response_complete()


def _head_size(url: bytes, headers: list[tuple[bytes, bytes]]) -> int:
    size = len(url) + 20  # the method, " HTTP/1.1\r\n" and the final CRLF
    for name, value in headers:
        size += len(name) + len(value) + 4
    return size
