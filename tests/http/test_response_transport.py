"""The response transport of the limited HTTP protocols: a response's head and body leave in one write."""

from __future__ import annotations

import asyncio
from typing import Any

from plugwork.http.limits import ResponseTransport


class Recorder:
    """A transport that records each write call as the list of chunks it wrote."""

    def __init__(self) -> None:
        self.calls: list[list[bytes]] = []
        self.closing = False

    def write(self, data: bytes) -> None:
        self.calls.append([data])

    def writelines(self, chunks: Any) -> None:
        self.calls.append(list(chunks))

    def is_closing(self) -> bool:
        return self.closing


class Protocol:
    def __init__(self) -> None:
        self.closed = 0

    def close_after_response(self) -> None:
        self.closed += 1


def transport() -> tuple[ResponseTransport, Recorder, Protocol]:
    recorder, protocol = Recorder(), Protocol()
    return ResponseTransport(protocol, recorder, asyncio.get_running_loop()), recorder, protocol  # type: ignore[arg-type]


async def test_head_and_body_leave_together() -> None:
    response, recorder, _ = transport()
    response.write(b"HTTP/1.1 200 OK\r\n\r\n")
    assert recorder.calls == []
    response.write(b"body")
    assert recorder.calls == [[b"HTTP/1.1 200 OK\r\n\r\n", b"body"]]
    await asyncio.sleep(0)  # nothing held: the end of the tick writes nothing more
    assert len(recorder.calls) == 1


async def test_a_lone_write_leaves_by_the_end_of_the_tick() -> None:
    response, recorder, _ = transport()
    response.write(b"head of a streamed response")
    await asyncio.sleep(0)
    assert recorder.calls == [[b"head of a streamed response"]]


async def test_what_is_held_goes_before_a_close_and_on_flush() -> None:
    response, recorder, protocol = transport()
    response.write(b"answer")
    response.close()
    assert recorder.calls == [[b"answer"]] and protocol.closed == 1
    response.write(b"next")
    response.flush()
    assert recorder.calls[-1] == [b"next"]


async def test_nothing_is_written_to_a_closing_transport() -> None:
    response, recorder, _ = transport()
    response.write(b"answer")
    recorder.closing = True
    await asyncio.sleep(0)
    assert recorder.calls == []
