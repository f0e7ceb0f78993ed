"""The hot-path WebSocket frame reader against websockets' own framing."""

from __future__ import annotations

import os
import random

import pytest
from websockets.frames import Close, Frame, Opcode

from plugwork.plugboard.frames import BINARY, TEXT, FrameReader


def wire(frame: Frame, *, masked: bool) -> bytes:
    return frame.serialize(mask=masked, extensions=[])


def stream(rng: random.Random, count: int) -> list[Frame]:
    """Data frames of every size class, fragmented messages, and control frames in between."""
    frames: list[Frame] = []
    while len(frames) < count:
        size = rng.choice([0, 1, 125, 126, 300, 65535, 65536, 70000])
        data = os.urandom(size)
        if rng.random() < 0.2:  # a fragmented message, a ping among its fragments
            frames += [
                Frame(Opcode.TEXT, data[: size // 2], fin=False),
                Frame(Opcode.PING, b"ping"),
                Frame(Opcode.CONT, data[size // 2 :], fin=True),
            ]
        else:
            frames.append(Frame(rng.choice([Opcode.TEXT, Opcode.BINARY]), data))
        if rng.random() < 0.1:
            frames.append(Frame(Opcode.PONG, b""))
    return frames


@pytest.mark.parametrize("masked", [True, False])
def test_frames_fed_in_any_pieces_come_out_whole_and_in_order(masked: bool) -> None:
    rng = random.Random(1)
    frames = stream(rng, 200)
    pieces = [wire(f, masked=masked) for f in frames]
    expected: list[object] = []
    for frame, raw in zip(frames, pieces, strict=True):
        if frame.opcode in (Opcode.TEXT, Opcode.BINARY, Opcode.CONT):
            expected.append((frame.opcode.value, frame.fin, frame.data))  # unmasked
        else:
            expected.append(raw)  # control frames stay raw and whole, for websockets
    data = b"".join(pieces)
    reader = FrameReader(masked=masked, max_size=1 << 20)
    out: list[object] = []
    at = 0
    while at < len(data):
        step = rng.choice([1, 2, 3, 7, 100, 5000, 100_000])
        out += reader.feed(data[at : at + step])
        at += step
    assert out == expected and not reader.handed_over


MASK = b"\x01\x02\x03\x04"
OK = wire(Frame(Opcode.TEXT, b"ok"), masked=True)


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        (bytes([0xC1, 0x81]) + MASK + b"x", "a reserved bit"),
        (bytes([0x83, 0x80]) + MASK, "an unknown opcode"),
        (bytes([0x81, 0x01]) + b"x", "no mask from a client"),
        (bytes([0x80, 0x81]) + MASK + b"x", "a continuation without a start"),
        (bytes([0x82, 0xFE]) + (2000).to_bytes(2, "big") + MASK, "a frame over max_size"),
        (bytes([0x89, 0xFE]) + (126).to_bytes(2, "big") + MASK, "a ping over 125 bytes"),
    ],
)
def test_what_a_peer_must_not_send_goes_to_websockets_with_all_that_follows(raw: bytes, why: str) -> None:
    reader = FrameReader(masked=True, max_size=1000)
    assert reader.feed(OK) == [(TEXT, True, b"ok")]
    out = reader.feed(raw)
    assert reader.handed_over, why
    assert out == [raw]  # every byte from there on, for websockets (before a payload it announced)
    assert reader.feed(OK) == [OK]


def test_a_fragmented_message_over_max_size_is_handed_over() -> None:
    reader = FrameReader(masked=False, max_size=100)
    first = wire(Frame(Opcode.BINARY, b"x" * 60, fin=False), masked=False)
    second = wire(Frame(Opcode.CONT, b"x" * 60, fin=True), masked=False)
    assert reader.feed(first) == [(BINARY, False, b"x" * 60)]
    assert reader.feed(second) == [second] and reader.handed_over


def test_a_close_is_raw_for_websockets_and_a_new_message_may_not_interrupt_a_fragmented_one() -> None:
    reader = FrameReader(masked=False, max_size=None)
    close = wire(Frame(Opcode.CLOSE, Close(1000, "bye").serialize()), masked=False)
    assert reader.feed(close) == [close] and not reader.handed_over
    start = wire(Frame(Opcode.TEXT, b"a", fin=False), masked=False)
    again = wire(Frame(Opcode.TEXT, b"b"), masked=False)
    assert reader.feed(start + again) == [(TEXT, False, b"a"), again] and reader.handed_over
