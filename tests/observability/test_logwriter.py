"""Log output through the bounded writer: never blocks on a slow pipe, drops and counts when full."""

from __future__ import annotations

import io
import json
import os
import threading
import time
from collections.abc import Iterator

import pytest

from plugwork.observability import logging as plugwork_logging
from plugwork.observability.logging import configure_logging, flush_logs, get_logger
from plugwork.observability.logwriter import LineWriter, SyncWriter, writer_for


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    yield
    plugwork_logging._reset_for_tests()


def read_all(fd: int) -> bytes:
    chunks = []
    while chunk := os.read(fd, 65536):
        chunks.append(chunk)
    return b"".join(chunks)


def test_lines_reach_the_file_descriptor_in_order() -> None:
    r, w = os.pipe()
    writer = LineWriter(w, lambda n: f"dropped {n}\n".encode())
    for i in range(1000):
        writer.write(f"line {i}\n".encode())
    writer.close()
    os.close(w)
    assert read_all(r).decode().splitlines() == [f"line {i}" for i in range(1000)]
    os.close(r)


def test_a_stalled_reader_never_blocks_the_caller_and_drops_are_reported() -> None:
    r, w = os.pipe()
    writer = LineWriter(w, lambda n: f"dropped {n}\n".encode(), max_lines=100)
    line = b"x" * 1023 + b"\n"
    done = threading.Event()

    def produce() -> None:  # 2,000 KiB into a 64 KiB pipe that nobody reads yet
        for _ in range(2000):
            writer.write(line)
        done.set()

    threading.Thread(target=produce, daemon=True).start()
    assert done.wait(30), "a log call blocked on the full pipe"
    assert writer.dropped > 0
    reader = threading.Thread(target=lambda: out.append(read_all(r)), daemon=True)
    out: list[bytes] = []
    reader.start()
    writer.flush(10)  # the output takes lines again: the next one is kept
    writer.write(b"after\n")
    writer.close()
    os.close(w)
    reader.join(30)
    lines = out[0].decode().splitlines()
    dropped = [int(x.split()[1]) for x in lines if x.startswith("dropped ")]
    assert lines[-1] == "after"
    assert sum(dropped) + sum(1 for x in lines if x.startswith("x")) == 2000
    os.close(r)


def test_streams_without_a_descriptor_are_written_synchronously() -> None:
    stream = io.StringIO()
    writer = writer_for(stream, lambda n: b"")
    assert isinstance(writer, SyncWriter)
    writer.write(b"now\n")
    assert stream.getvalue() == "now\n"


def test_configured_json_lines_go_through_the_writer(tmp_path: object) -> None:
    r, w = os.pipe()
    stream = os.fdopen(w, "w")
    configure_logging(json=True, stream=stream)
    get_logger("t").info("hello", n=1)
    import logging

    logging.getLogger("lib").warning("from stdlib")
    flush_logs()
    os.set_blocking(r, False)
    deadline = time.monotonic() + 10
    data = b""
    while data.count(b"\n") < 2 and time.monotonic() < deadline:
        try:
            data += os.read(r, 65536)
        except BlockingIOError:
            time.sleep(0.01)
    first, second = (json.loads(x) for x in data.decode().splitlines())
    assert first["event"] == "hello" and first["n"] == 1 and first["level"] == "info"
    assert second["event"] == "from stdlib" and second["logger"] == "lib"
    plugwork_logging._reset_for_tests()
    stream.close()
    os.close(r)


def test_console_lines_without_a_terminal_are_plain() -> None:
    stream = io.StringIO()
    configure_logging(stream=stream)
    try:
        raise ValueError("boom")
    except ValueError:
        get_logger("t").exception("failed", k=[1, 2])
    text = stream.getvalue()
    first = text.splitlines()[0]
    assert "[error    ] failed" in first and "[t]" in first and "k=[1, 2]" in first
    assert "ValueError: boom" in text and "\x1b[" not in text


def test_structlog_contextvars_and_interpolation_still_work() -> None:
    import structlog

    stream = io.StringIO()
    configure_logging(json=True, stream=stream)
    log = get_logger("t")
    structlog.contextvars.bind_contextvars(tenant="acme")
    try:
        log.info("user %s logged in", "ann", n=1)
    finally:
        structlog.contextvars.clear_contextvars()
    log.warning("later")
    log.debug("hidden")
    first, second = (json.loads(x) for x in stream.getvalue().splitlines())
    assert first["event"] == "user ann logged in" and first["tenant"] == "acme" and first["n"] == 1
    assert second["event"] == "later" and second["level"] == "warning" and "tenant" not in second


def test_a_forked_child_writes_through_a_thread_of_its_own() -> None:
    r, w = os.pipe()
    writer = LineWriter(w, lambda n: b"")
    writer.write(b"parent\n")
    writer.flush(10)
    pid = os.fork()
    if pid == 0:  # the child: its writer thread was not copied by fork(); it must start a new one
        writer.write(b"child\n")
        writer.flush(5)
        os._exit(0)
    os.waitpid(pid, 0)
    writer.close()
    os.close(w)
    assert read_all(r).decode().splitlines() == ["parent", "child"]
    os.close(r)
