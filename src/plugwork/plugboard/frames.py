"""WebSocket data frames read on the hot path, beside websockets' own parser.

websockets' sans-I/O parser is a generator reading through a stream object: 3 to 4 µs per frame, as much as
the rest of the hub's handling of a consumer's answer. :class:`FrameReader` cuts a connection's bytes into
whole frames with a few slices. Well-formed data frames (text, binary, continuation) come out parsed;
every other frame — ping, pong, close — comes out as its raw bytes for websockets, which handles it as it
always does (its parser only ever sees whole frames, so it stays at a frame boundary).

A frame a peer must not send — reserved bits set, an unknown opcode, a mask on the wrong side, a
continuation out of place, a frame or a fragmented message over the size limit — stops the reader: that
frame and every byte after it go to websockets, which fails the connection with its close code (a
fragmented message over the limit is reported as a protocol error rather than 1009: websockets sees its
continuation without its start). The reader keeps at most one partial frame, of at most ``max_size``
bytes: a header announcing more is handed over at once, before its payload is read.
"""

from __future__ import annotations

try:  # websockets' C helper, as its own parser uses (pure Python without its compiled extension)
    from websockets.speedups import apply_mask
except ImportError:  # pragma: no cover
    from websockets.utils import apply_mask

CONTINUATION, TEXT, BINARY = 0, 1, 2
_CONTROL = frozenset({8, 9, 10})  # close, ping, pong

DataFrame = tuple[int, bool, bytes]
"""``(opcode, fin, payload)``, unmasked."""


class FrameReader:
    """Splits one connection's incoming bytes into data frames and raw frames for websockets.

    ``masked``: whether the peer's frames are masked (a client's are, a server's are not). ``max_size``
    bounds a frame and a fragmented message, in bytes (None: no bound).
    """

    __slots__ = ("_buffer", "_fragmented", "_masked", "_max_size", "_message_size", "handed_over")

    def __init__(self, *, masked: bool, max_size: int | None) -> None:
        self._buffer = b""
        self._masked = masked
        self._max_size = max_size
        self._fragmented = False  # a fragmented message has begun
        self._message_size = 0  # its bytes so far
        self.handed_over = False
        """True once the reader stopped: everything goes to websockets from then on."""

    def feed(self, data: bytes) -> list[DataFrame | bytes]:
        """The frames ``data`` completes, in order: a :data:`DataFrame`, or raw bytes for websockets."""
        if self.handed_over:
            return [data]
        buffer = self._buffer + data if self._buffer else data
        size = len(buffer)
        out: list[DataFrame | bytes] = []
        at = 0
        while size - at >= 2:
            first, second = buffer[at], buffer[at + 1]
            length = second & 0x7F
            head = 2
            if length == 126:
                if size - at < 4:
                    break
                length = int.from_bytes(buffer[at + 2 : at + 4], "big")
                head = 4
            elif length == 127:
                if size - at < 10:
                    break
                length = int.from_bytes(buffer[at + 2 : at + 10], "big")
                head = 10
            masked = second & 0x80
            if masked:
                head += 4
            opcode = first & 0x0F
            fin = bool(first & 0x80)
            if opcode in _CONTROL:
                if first & 0x70 or length > 125 or bool(masked) != self._masked:
                    return self._hand_over(out, buffer, at)
                end = at + head + length
                if end > size:
                    break
                out.append(buffer[at:end])  # websockets answers pings and closes
                at = end
                continue
            if (
                first & 0x70  # reserved bits: no extension is negotiated
                or opcode > BINARY
                or bool(masked) != self._masked
                or (opcode == CONTINUATION) != self._fragmented
                or (self._max_size is not None and self._message_size + length > self._max_size)
            ):
                return self._hand_over(out, buffer, at)
            end = at + head + length
            if end > size:
                break
            payload = buffer[at + head : end]
            if masked:
                payload = apply_mask(payload, buffer[at + head - 4 : at + head])
            if fin:
                self._fragmented, self._message_size = False, 0
            else:
                self._fragmented = True
                self._message_size += length
            out.append((opcode, fin, payload))
            at = end
        self._buffer = buffer[at:] if at < size else b""
        return out

    def _hand_over(self, out: list[DataFrame | bytes], buffer: bytes, at: int) -> list[DataFrame | bytes]:
        self.handed_over = True
        self._buffer = b""
        out.append(buffer[at:])
        return out
