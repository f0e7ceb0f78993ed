"""Log output that never blocks the event loop: a bounded buffer drained by a writer thread.

A log call only appends the rendered line to a deque (about 0.1 µs); a daemon thread writes what has
gathered to the file descriptor with one ``os.write`` per batch. A slow or stalled reader (a pipe nobody
reads, a blocked terminal, a full disk) therefore stalls only that thread.

**When the buffer is full** (:data:`MAX_BUFFERED_LINES` lines waiting, because the output has been slower
than the app for a while), new lines are **dropped and counted**, never waited for; once the output accepts
lines again, the writer first emits one line saying how many were dropped. At interpreter exit the buffer
is flushed (for at most :data:`EXIT_FLUSH_SECONDS`). A process killed outright (SIGKILL) loses at most the
lines of the last batch period (50 ms).

Streams without a file descriptor (``io.StringIO``, test captures) are written synchronously instead.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable
from typing import TextIO

__all__ = ["EXIT_FLUSH_SECONDS", "MAX_BUFFERED_LINES", "LineWriter", "SyncWriter", "writer_for"]

MAX_BUFFERED_LINES = 10_000
"""Lines waiting for the output at most; past this, new lines are dropped and counted."""
BATCH_SECONDS = 0.05
"""While lines keep coming, the writer thread writes what gathered every this many seconds.

Each batch costs the event loop's thread a GIL hand-over to the writer; measured on the greeter (one JSON
line per request, in-process, 2 cores): a line cost 3.0 to 4.0 µs with 10 ms batches, 1.8 to 2.0 µs with 50 or
100 ms, 1.6 µs written synchronously (which a slow pipe would block). 50 ms keeps the lines prompt."""
EXIT_FLUSH_SECONDS = 2.0

DroppedLine = Callable[[int], bytes]


class SyncWriter:
    """Writes each line straight to a stream without a file descriptor (StringIO, a test capture)."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def write(self, line: bytes) -> None:
        """Write one rendered line (UTF-8, ending in a newline)."""
        self.stream.write(line.decode("utf-8", "replace"))
        flush = getattr(self.stream, "flush", None)
        if flush is not None:
            flush()

    def flush(self, timeout: float = EXIT_FLUSH_SECONDS) -> None:
        """Nothing is ever buffered here."""

    def close(self) -> None:
        """Nothing to stop."""


class LineWriter:
    """Lines for file descriptor ``fd``, written by a daemon thread (see the module docstring).

    ``dropped_line(n)`` renders the notice written after ``n`` lines were dropped.
    """

    def __init__(self, fd: int, dropped_line: DroppedLine, max_lines: int = MAX_BUFFERED_LINES) -> None:
        self.fd = fd
        self.max_lines = max_lines
        self.dropped = 0
        """Lines dropped since the last notice (the buffer was full)."""
        self._dropped_line = dropped_line
        self._lines: deque[bytes] = deque()
        self._wake = threading.Event()
        self._signalled = False
        self._idle = threading.Event()
        self._idle.set()
        self._closing = False
        self._start_thread()
        _live.add(self)

    def _start_thread(self) -> None:
        self._thread = threading.Thread(target=self._run, name="plugwork-log-writer", daemon=True)
        self._thread.start()

    def _after_fork(self) -> None:
        """In a forked child (gunicorn workers, multiprocessing's fork): a thread of its own, fresh state."""
        self._lines.clear()  # the parent writes what it had queued
        self._wake = threading.Event()
        self._idle = threading.Event()
        self._idle.set()
        self._signalled = False
        if not self._closing:
            self._start_thread()

    def write(self, line: bytes) -> None:
        """Queue one rendered line (ending in a newline); never blocks."""
        if len(self._lines) >= self.max_lines:
            self.dropped += 1
            return
        self._lines.append(line)
        if not self._signalled:  # one wake-up per batch: the thread clears this before it drains
            self._signalled = True
            self._idle.clear()
            self._wake.set()

    def flush(self, timeout: float = EXIT_FLUSH_SECONDS) -> None:
        """Wait up to ``timeout`` seconds until every queued line has been written."""
        if self._lines or self._signalled:
            self._idle.wait(timeout)

    def close(self) -> None:
        """Flush (bounded), then stop the thread. Later writes are dropped."""
        self.flush()
        self._closing = True
        self.max_lines = 0
        self._wake.set()
        self._thread.join(EXIT_FLUSH_SECONDS)

    def _run(self) -> None:
        # Two modes. Busy: every BATCH_SECONDS, write what gathered; callers never signal (``_signalled``
        # stays true), so a log call is a deque append and nothing else. Idle (a batch period brought
        # nothing): wait for the signal that the next line sends. So a steady stream costs the thread
        # 20 wake-ups a second at most, and an idle process none.
        lines = self._lines
        while not self._closing:
            self._wake.wait()
            self._wake.clear()
            while not self._closing:
                time.sleep(BATCH_SECONDS)
                if not lines:
                    break
                self._write_batch()
            self._idle.set()
            self._signalled = False  # from now on, the next line wakes us...
            if lines:  # ...but one may have come just before: stay busy
                self._signalled = True
                self._idle.clear()
                self._wake.set()
        self._drain()

    def _drain(self) -> None:
        while self._lines:
            self._write_batch()

    def _write_batch(self) -> None:
        # The lines queued now, in one write. Not "until the deque is empty": under a steady stream more
        # lines arrive while the write runs without the GIL, and chasing them turned each batch period into
        # dozens of small writes, each a GIL hand-over with the event loop's thread (measured: ~1,500
        # context switches a second of the writer thread where its batch period allows 100 wake-ups).
        lines = self._lines
        batch = [lines.popleft() for _ in range(len(lines))]
        if self.dropped:
            count, self.dropped = self.dropped, 0
            batch.append(self._dropped_line(count))
        self._write_all(b"".join(batch))

    def _write_all(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            try:
                written = os.write(self.fd, view)
            except InterruptedError:
                continue
            except OSError:  # the output is gone (closed pipe): nothing more can be written
                self.max_lines = 0
                return
            view = view[written:]


_live: weakref.WeakSet[LineWriter] = weakref.WeakSet()


@atexit.register
def _flush_at_exit() -> None:
    for writer in list(_live):
        writer.flush()


def _restart_in_child() -> None:
    for writer in list(_live):
        writer._after_fork()


os.register_at_fork(after_in_child=_restart_in_child)


def writer_for(stream: TextIO, dropped_line: DroppedLine) -> LineWriter | SyncWriter:
    """A :class:`LineWriter` for a stream backed by a file descriptor, else a :class:`SyncWriter`."""
    try:
        fd = stream.fileno()
    except (AttributeError, OSError, ValueError):  # io.UnsupportedOperation is an OSError and ValueError
        return SyncWriter(stream)
    with contextlib.suppress(Exception):
        stream.flush()  # whatever was printed before goes out first
    return LineWriter(fd, dropped_line)
