"""One open consumer socket: frames in as they are parsed, frames out coalesced per event-loop tick, and the
replies the consumer is waiting for.

The socket is websockets' asyncio client connection (its handshake, proxy, TLS and close handling), with the
per-message path made cheaper for a consumer that answers many small requests:

- each data frame goes to the link's handler from ``data_received`` as soon as it is read, instead of
  through websockets' message queue to a reader task awaiting ``recv()``; data frames are cut by
  :class:`~plugwork.plugboard.frames.FrameReader` (websockets' parser, 3 µs a frame, still gets pings,
  closes and anything malformed);
- frames sent during one event-loop tick go out in one write (one system call for the ten responses that
  a hub's burst of requests produces, rather than ten), framed here: a masked text frame is a few bytes of
  header, a mask and the masked data (websockets' own framing costs ~2 µs and a ``getrandom`` system call
  per frame; the masks here are drawn from the same source, 4 KiB at a time).

A send never waits: frames queue in the transport's buffer. When that buffer passes its high-water mark the
hub is not reading; reading then pauses too (requests stop arriving while their answers cannot leave), and a
buffer that does not drain within ``send_timeout`` seconds kills the connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import struct
from collections.abc import Callable
from typing import Any

from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosedOK, InvalidState
from websockets.frames import Frame, Opcode
from websockets.protocol import State

from .frames import CONTINUATION, DataFrame, FrameReader
from .protocol import Message, Serializer

try:  # websockets' C helper, as its own framing uses (pure Python without its compiled extension)
    from websockets.speedups import apply_mask
except ImportError:  # pragma: no cover
    from websockets.utils import apply_mask

_MASKS = 4096  # bytes of random masks drawn at a time (1024 frames)


def text_frame(data: bytes, mask: bytes) -> bytes:
    """A final, masked text frame carrying ``data`` (RFC 6455 §5.2: what a client sends)."""
    size = len(data)
    if size < 126:
        head = struct.pack("!BB", 0x81, 0x80 | size)
    elif size < 65536:
        head = struct.pack("!BBH", 0x81, 0x80 | 126, size)
    else:
        head = struct.pack("!BBQ", 0x81, 0x80 | 127, size)
    return head + mask + apply_mask(data, mask)


class Disconnected(Exception):
    """The connection closed before a reply arrived or a send completed."""


class DeadConnection(Exception):
    """The connection stopped answering: no heartbeat reply in time, or a send that never completed."""


class ConsumerConnection(ClientConnection):
    """websockets' client connection delivering frames to a callback and writing sends once per tick.

    Pass it as ``connect(..., create_connection=ConsumerConnection)``; a :class:`Link` sets :attr:`on_frame`
    and :attr:`on_lost` before the first frame can arrive (a consumer sends ``phx_join`` first, and the hub
    pushes nothing before it).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.on_frame: Callable[[bytes], None] | None = None
        self.on_lost: Callable[[str], None] | None = None
        self.send_timeout = 10.0
        self.lost_reason: str | None = None
        self._fragments: list[bytes] = []
        self._flush_scheduled = False
        self._stalled: asyncio.TimerHandle | None = None
        self._reader: FrameReader | None = None
        self._outgoing: list[bytes] = []  # framed here, sent before what websockets queues after them
        self._masks = b""
        self._mask_at = _MASKS

    # -- frames in -----------------------------------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        reader = self._reader
        if reader is None and self._at_frame_boundary():
            reader = self._reader = FrameReader(masked=False, max_size=self.protocol.max_message_size)
        if reader is None:
            super().data_received(data)
            return
        for frame in reader.feed(data):
            if isinstance(frame, bytes):
                super().data_received(frame)  # a ping, a close, or what the reader would not read
            elif self.protocol.state is State.OPEN:  # after a close, data is discarded (as websockets does)
                self._deliver(frame)

    def _at_frame_boundary(self) -> bool:
        # Once the link is set up, at a read where websockets holds no partial frame: from then on the frame
        # reader cuts the stream, and websockets sees only whole frames.
        protocol = self.protocol
        return self.on_frame is not None and protocol.state is State.OPEN and not protocol.reader.buffer

    def process_event(self, event: Any) -> None:
        if self.on_frame is None or self.response is None or not isinstance(event, Frame):
            super().process_event(event)  # the handshake response, and every frame until a handler is set
        elif event.opcode in (Opcode.TEXT, Opcode.BINARY, Opcode.CONT):
            # bytes(): the data is bytes already, and bytes() returns it as it is
            self._deliver((event.opcode.value, event.fin, bytes(event.data)))
        elif event.opcode is Opcode.PONG:
            super().process_event(event)

    def _deliver(self, frame: DataFrame) -> None:
        opcode, fin, data = frame
        handler = self.on_frame
        assert handler is not None
        if opcode != CONTINUATION:
            if fin:
                handler(data)
            else:
                self._fragments = [data]
            return
        # The reader (or websockets) bounds the whole message (max_size), fragments included.
        self._fragments.append(data)
        if fin:
            data, self._fragments = b"".join(self._fragments), []
            handler(data)

    # -- frames out ----------------------------------------------------------------------------------------

    def queue_text(self, data: bytes) -> None:
        """Send a text frame with whatever else is sent in this tick (InvalidState once closing)."""
        if self.protocol.state is not State.OPEN:
            raise InvalidState(f"connection is {self.protocol.state.name.lower()}")
        at = self._mask_at
        if at >= _MASKS:
            self._masks, at = os.urandom(_MASKS), 0
        self._mask_at = at + 4
        self._outgoing.append(text_frame(data, self._masks[at : at + 4]))
        if not self._flush_scheduled:
            self._flush_scheduled = True
            self.loop.call_soon(self.send_data)

    def send_data(self) -> None:
        """Write what is queued — this tick's frames, then a close or a pong of websockets' — in one call."""
        self._flush_scheduled = False
        chunks = self.protocol.data_to_send()
        if self._outgoing:
            chunks[:0], self._outgoing = self._outgoing, []
        if not chunks:
            return
        transport = self.transport
        if transport.is_closing():
            return  # aborted: what was queued is lost with the connection
        if all(chunks):
            transport.writelines(chunks)
            return
        # An empty chunk is the end of the stream, after a close: half-close as websockets does.
        end = chunks.index(b"")
        transport.writelines(chunks[:end])
        if transport.can_write_eof():
            with contextlib.suppress(Exception):  # uvloop may raise RuntimeError here
                transport.write_eof()
        else:
            transport.close()

    # -- flow control --------------------------------------------------------------------------------------

    def pause_writing(self) -> None:
        super().pause_writing()
        if self.on_frame is not None:
            self.transport.pause_reading()  # no new requests while their answers cannot leave
        if self._stalled is None:
            self._stalled = self.loop.call_later(self.send_timeout, self._send_timed_out)

    def resume_writing(self) -> None:
        super().resume_writing()
        if self.on_frame is not None:
            with contextlib.suppress(Exception):  # already reading, or closing
                self.transport.resume_reading()
        if self._stalled is not None:
            self._stalled.cancel()
            self._stalled = None

    def _send_timed_out(self) -> None:
        self._stalled = None
        self.lost_reason = f"send blocked for {self.send_timeout:g}s: the hub is not reading"
        self.set_connection_exc(DeadConnection(self.lost_reason))
        self.transport.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._stalled is not None:
            self._stalled.cancel()
            self._stalled = None
        super().connection_lost(exc)
        if self.on_lost is not None:
            closed = self.close_exc
            if self.lost_reason is None:
                ok = isinstance(closed, ConnectionClosedOK) and self.connection_exc is None
                self.lost_reason = "the hub closed the connection" if ok else f"connection closed: {closed}"
            self.on_lost(self.lost_reason)


class Link:
    """A joined (or joining) socket. ``call`` sends a message and awaits its ``phx_reply``, bounded.

    ``on_frame`` gets every data frame; :attr:`ended` is done once the session is over (the socket lost, or
    :meth:`end` called because of what the hub said).
    """

    __slots__ = ("_pending", "_ref", "close_reason", "ended", "join_ref", "serializer", "ws")

    def __init__(
        self,
        ws: ConsumerConnection,
        serializer: Serializer,
        on_frame: Callable[[bytes], None],
        send_timeout: float,
    ) -> None:
        self.ws = ws
        self.serializer = serializer
        self.join_ref: str | None = None
        self.close_reason: str | None = None
        self.ended: asyncio.Future[None] = ws.loop.create_future()
        self._ref = 0
        self._pending: dict[str, tuple[asyncio.Future[Any], Callable[[Any], None] | None]] = {}
        ws.send_timeout = send_timeout
        ws.on_frame = on_frame
        ws.on_lost = self.end
        if ws.protocol.state is not State.OPEN:  # lost between the handshake and now
            self.end("connection closed before the session began")

    def next_ref(self) -> str:
        """A fresh message ref, unique on this socket."""
        self._ref += 1
        return str(self._ref)

    async def call(
        self, message: Message, reply_within: float, on_reply: Callable[[Any], None] | None = None
    ) -> Any:
        """Send ``message`` (it must carry a ref) and return its reply payload within ``reply_within`` s.

        ``on_reply`` sees the payload as the reply is read, before any later frame: what a join reply says
        must not overwrite what pushes read after it said (they are newer).
        """
        assert message.ref is not None
        future: asyncio.Future[Any] = self.ws.loop.create_future()
        self.send(self.serializer.encode_bytes(message))
        self._pending[message.ref] = (future, on_reply)
        try:
            async with asyncio.timeout(reply_within):
                return await future
        finally:
            self._pending.pop(message.ref, None)

    def resolve(self, ref: str | None, payload: Any) -> None:
        """Hand a ``phx_reply`` to whoever awaits it; replies nobody awaits are dropped."""
        pending = self._pending.get(ref) if ref is not None else None
        if pending is None or pending[0].done():
            return
        future, on_reply = pending
        if on_reply is not None:
            try:
                on_reply(payload)
            except Exception as exc:
                future.set_exception(exc)
                return
        future.set_result(payload)

    def end(self, reason: str) -> None:
        """The session is over (lost, or ended by the hub): every awaited reply fails now."""
        if self.close_reason is None:
            self.close_reason = reason
        for future, _ in self._pending.values():
            if not future.done():
                future.set_exception(Disconnected(self.close_reason))
        if not self.ended.done():
            self.ended.set_result(None)

    def send(self, frame: bytes) -> None:
        """Send one text frame (with the rest of this tick's frames); Disconnected once the socket closes."""
        if self.close_reason is not None:
            raise Disconnected(self.close_reason)
        try:
            self.ws.queue_text(frame)
        except Exception as exc:  # websockets' InvalidState: the connection is closing
            raise Disconnected(f"connection closed: {exc}") from None

    async def close(self) -> None:
        """Close cleanly (bounded by the connection's close_timeout)."""
        with contextlib.suppress(Exception):
            await self.ws.close()
