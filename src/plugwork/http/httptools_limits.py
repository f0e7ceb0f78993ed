"""uvicorn's httptools protocol held to :class:`~plugwork.http.limits.HttpLimits` (the ``speed`` extra)."""

from __future__ import annotations

import asyncio
from typing import Any

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
    """httptools keeps a header of any size: the head is counted here, per read and once complete.

    A request read whole in one read (the common case) costs one check after the read: the timers, the
    byte count and the hold on keep-alive below only start when a head or a body is left partial.
    """

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
        self.max_header_bytes = self.limits.max_header_bytes
        self.read_bytes = 0  # the size of the current read
        self.counted: Any = None  # the scope (uvicorn's, one per request head) whose head bytes are counted
        self.head_bytes = 0  # bytes read for that head before the current read
        self.held: Any = None  # the cycle whose keep-alive is held off while its body arrives
        self.keep_alive_wanted = False  # ... and what its client asked for

    def data_received(self, data: bytes) -> None:
        if self.lingering:
            self.drain(data)
            return
        self.read_bytes = len(data)
        super().data_received(data)
        cycle = self.cycle
        # uvicorn makes a new scope when a head begins, and a cycle with it once the head is complete.
        if (
            cycle is not None
            and cycle.scope is self.scope
            and not cycle.more_body
            and self.held is None
            and self.header_timer is None
            and self.body_timer is None
        ):
            return  # the common case: whole requests only, and no timer runs
        if self.lingering or self.upgraded or self.transport.is_closing():
            return
        head_partial = self.scope is not None and (cycle is None or cycle.scope is not self.scope)
        if head_partial:
            # httptools buffers a header value until it is complete: bound what it may hold.
            if self.counted is self.scope:
                self.head_bytes += len(data)
            else:
                self.counted, self.head_bytes = self.scope, len(data)
            if self.head_bytes > self.max_header_bytes:
                self.refuse(431, _TOO_LARGE)
                return
        # A pipelined request's body waits (reading is paused) until the ones before it are answered.
        in_body = cycle is not None and cycle.more_body and not cycle.response_complete and not self.pipeline
        self._hold_keep_alive(cycle if in_body else None)
        self.track_timers(head_partial, in_body)

    def _hold_keep_alive(self, cycle: Any) -> None:
        """While a body arrives, an answer says "connection: close" and the connection closes lingering.

        A client must never send its next request into the rest of a refused body; the cycle's close goes
        through :class:`~plugwork.http.limits.ResponseTransport`, which drains before closing.
        """
        held = self.held
        if held is cycle:
            return
        if held is not None and not held.response_started:
            held.keep_alive = self.keep_alive_wanted  # its body is whole: what its client asked for
        self.held = cycle
        if cycle is not None:
            self.keep_alive_wanted = cycle.keep_alive
            cycle.keep_alive = False
            cycle.transport = self.response_transport

    def on_headers_complete(self) -> None:
        limit = self.max_header_bytes
        # Only a head that could be over the limit (by the bytes read since it began) is measured.
        before = self.head_bytes if self.counted is self.scope else 0
        if before + self.read_bytes > limit and _head_size(self.url, self.headers) > limit:
            self.refuse(431, _TOO_LARGE)
            raise _HeadTooLarge
        super().on_headers_complete()
        cycle = self.cycle
        if cycle is not None and cycle.scope is self.scope:  # a new cycle: its head and body in one write
            cycle.transport = self.response_transport

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
        self.response_transport.flush()
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
