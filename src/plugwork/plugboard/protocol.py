"""Phoenix Channels frames: the V1 (JSON object) and V2 (JSON array) serializers, chosen by ``vsn``.

See ``shared/specs/plugboard.md``. V1 frames are ``{"topic", "event", "payload", "ref"}`` (``ref`` present,
possibly null; no join_ref). V2 frames are ``[join_ref, ref, topic, event, payload]``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import orjson

from ..errors import ProtocolError

PHX_JOIN = "phx_join"
PHX_REPLY = "phx_reply"
PHX_LEAVE = "phx_leave"
PHX_CLOSE = "phx_close"
PHX_ERROR = "phx_error"
HEARTBEAT = "heartbeat"
PHOENIX_TOPIC = "phoenix"
SERVICE_TOPIC = "service"

V1 = "1.0.0"
V2 = "2.0.0"
DEFAULT_MAX_FRAME_BYTES = 1024 * 1024


@dataclass(slots=True)
class Message:
    """One channel message, whatever the serializer."""

    topic: str
    event: str
    payload: Any
    ref: str | None = None
    join_ref: str | None = None


def reply(to: Message, status: str = "ok", response: dict[str, Any] | None = None) -> Message:
    """The ``phx_reply`` answering ``to`` (same topic, ref and join_ref)."""
    payload = {"status": status, "response": {} if response is None else response}
    return Message(to.topic, PHX_REPLY, payload, to.ref, to.join_ref)


class Serializer(Protocol):
    """Turns frames into :class:`Message` and back."""

    vsn: str

    def decode(self, frame: str | bytes) -> Message: ...

    def encode(self, message: Message) -> str: ...

    def encode_bytes(self, message: Message) -> bytes:
        """The frame as UTF-8 bytes (what goes on the wire, without a round trip through ``str``)."""
        ...


def _load(frame: str | bytes) -> Any:
    try:
        return orjson.loads(frame)
    except orjson.JSONDecodeError as exc:
        raise ProtocolError(f"frame is not valid JSON: {exc}") from None


def _ref(value: Any, what: str) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)  # some clients send numeric refs; Phoenix echoes them as strings
    raise ProtocolError(f"{what} must be a string or null, got {type(value).__name__}")


def _text(value: Any, what: str) -> str:
    if not isinstance(value, str) or not value:
        raise ProtocolError(f"{what} must be a non-empty string")
    return value


class V1Serializer:
    """``{"topic", "event", "payload", "ref"}`` objects — what Vera's consumer and a real Plugboard speak."""

    vsn = V1

    def decode(self, frame: str | bytes) -> Message:
        data = _load(frame)
        if not isinstance(data, dict):
            raise ProtocolError("V1 frame must be a JSON object")
        missing = [k for k in ("topic", "event", "payload", "ref") if k not in data]
        if missing:
            raise ProtocolError(f"V1 frame lacks key(s): {', '.join(missing)}")
        return Message(
            _text(data["topic"], "topic"),
            _text(data["event"], "event"),
            data["payload"],
            _ref(data["ref"], "ref"),
            _ref(data.get("join_ref"), "join_ref"),
        )

    def encode(self, message: Message) -> str:
        return self.encode_bytes(message).decode()

    def encode_bytes(self, message: Message) -> bytes:
        frame = {
            "topic": message.topic,
            "event": message.event,
            "payload": message.payload,
            "ref": message.ref,
        }
        return orjson.dumps(frame)


class V2Serializer:
    """``[join_ref, ref, topic, event, payload]`` arrays — what the official JS client speaks."""

    vsn = V2

    def decode(self, frame: str | bytes) -> Message:
        data = _load(frame)
        if not isinstance(data, list) or len(data) != 5:
            raise ProtocolError(
                "V2 frame must be a JSON array of 5 elements [join_ref, ref, topic, event, payload]"
            )
        join_ref, ref, topic, event, payload = data
        return Message(
            _text(topic, "topic"),
            _text(event, "event"),
            payload,
            _ref(ref, "ref"),
            _ref(join_ref, "join_ref"),
        )

    def encode(self, message: Message) -> str:
        return self.encode_bytes(message).decode()

    def encode_bytes(self, message: Message) -> bytes:
        frame = [message.join_ref, message.ref, message.topic, message.event, message.payload]
        return orjson.dumps(frame)


_SERIALIZERS: dict[str, Serializer] = {V1: V1Serializer(), V2: V2Serializer()}


def serializer_for(vsn: str | None) -> Serializer:
    """The serializer for a ``vsn`` query parameter: absent or 1.x means V1, 2.x means V2."""
    if not vsn:
        return _SERIALIZERS[V1]
    major = vsn.split(".", 1)[0]
    if major == "1":
        return _SERIALIZERS[V1]
    if major == "2":
        return _SERIALIZERS[V2]
    raise ProtocolError(f"unsupported protocol version vsn={vsn!r} (1.0.0 and 2.0.0 are supported)")
