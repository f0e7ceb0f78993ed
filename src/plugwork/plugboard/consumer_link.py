"""One open consumer socket: its serializer, message refs, and the replies the consumer is waiting for."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from websockets.asyncio.client import ClientConnection

from ..deadlines import deadline_watch
from .protocol import Message, Serializer


class Disconnected(Exception):
    """The connection closed before a reply arrived or a send completed."""


class DeadConnection(Exception):
    """The connection stopped answering: no heartbeat reply in time, or a send that never completed."""


class Link:
    """A joined (or joining) socket. ``call`` sends a message and awaits its ``phx_reply``, bounded."""

    __slots__ = ("_pending", "_ref", "close_reason", "join_ref", "serializer", "ws")

    def __init__(self, ws: ClientConnection, serializer: Serializer) -> None:
        self.ws = ws
        self.serializer = serializer
        self.join_ref: str | None = None
        self.close_reason: str | None = None
        self._ref = 0
        self._pending: dict[str, asyncio.Future[Any]] = {}

    def next_ref(self) -> str:
        """A fresh message ref, unique on this socket."""
        self._ref += 1
        return str(self._ref)

    async def call(self, message: Message, reply_within: float, send_within: float) -> Any:
        """Send ``message`` (it must carry a ref) and return its reply payload within ``reply_within`` s."""
        assert message.ref is not None
        if self.close_reason is not None:
            raise Disconnected(self.close_reason)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[message.ref] = future
        try:
            await self.send_frame(self.serializer.encode(message), send_within)
            async with asyncio.timeout(reply_within):
                return await future
        finally:
            self._pending.pop(message.ref, None)

    def resolve(self, ref: str | None, payload: Any) -> None:
        """Hand a ``phx_reply`` to whoever awaits it; replies nobody awaits are dropped."""
        future = self._pending.get(ref) if ref is not None else None
        if future is not None and not future.done():
            future.set_result(payload)

    def fail_pending(self, reason: str) -> None:
        """The socket is gone: every awaited reply fails now instead of at its timeout."""
        for future in self._pending.values():
            if not future.done():
                future.set_exception(Disconnected(reason))

    async def send_frame(self, frame: str, within: float) -> None:
        """Send one text frame. A send that cannot complete ``within`` seconds kills the connection."""
        if self.close_reason is not None:
            raise Disconnected(self.close_reason)
        task = asyncio.current_task()
        assert task is not None
        loop = asyncio.get_running_loop()
        # One send per response: the shared deadline watch instead of an asyncio.timeout each (~4 µs less).
        watch = deadline_watch(loop)
        entry = watch.add(task, loop.time() + within)
        try:
            await self.ws.send(frame)
        except asyncio.CancelledError:
            if entry.expired():
                self.abort(f"send blocked for {within}s")
                raise DeadConnection(f"send blocked for {within}s") from None
            raise
        finally:
            watch.discard(entry)
        entry.settle()

    def abort(self, reason: str) -> None:
        """Drop the connection at once (no closing handshake): it is not answering anyway."""
        if self.close_reason is None:
            self.close_reason = reason
        self.ws.transport.abort()

    async def close(self) -> None:
        """Close cleanly (bounded by the connection's close_timeout)."""
        with contextlib.suppress(Exception):
            await self.ws.close()
