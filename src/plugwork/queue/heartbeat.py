"""Worker heartbeats, written from a thread of their own so that a busy event loop cannot silence them.

A worker's lease loop runs on the event loop: a handler that blocks the loop (CPU-bound code, a sync call)
stops renewals, and without a heartbeat its leases would expire while it is alive. A killed worker's
jobs, on the other hand, should not wait for a 30-second lease. So each worker writes ``heartbeat_at`` to
the store's ``plugwork_workers`` row every ``interval`` seconds from a daemon thread with its own store
connection (a :class:`HeartbeatSession`), and declares ``dead_after``: how long it may stay silent before
other workers take it for lost and reclaim its jobs (see ``JobStore.reclaim_expired``). At a graceful stop
the row is deleted.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable
from typing import Protocol

from ..observability.logging import get_logger

DEFAULT_HEARTBEAT_INTERVAL = 1.0
DEFAULT_DEAD_AFTER = 5.0
"""Seconds of silence after which a worker's jobs are reclaimed: with a 1 s heartbeat and a reclaim pass
every 1.25 s, a killed worker's jobs run again within about 5 to 7 s."""
BEAT_TIMEOUT = 2.0
"""Seconds a store may take to connect or to write one beat; a slower attempt fails and the next interval
tries again (so a live worker's beats resume promptly once its store is back)."""


class HeartbeatSession(Protocol):
    """A store connection used by one heartbeat thread only (never by the event loop). Methods block."""

    def beat(self, worker_id: str, dead_after: float) -> None:
        """Record that the worker is alive now (creating its row if needed)."""

    def retire(self, worker_id: str) -> None:
        """Delete the worker's row: it stopped gracefully."""

    def close(self) -> None:
        """Release the connection."""


class Heartbeat:
    """Writes ``worker_id``'s heartbeat every ``interval`` seconds from a daemon thread until :meth:`stop`.

    ``open_session`` is called in the thread (a connection belongs to the thread that uses it); a failed
    beat is retried at the next interval with a fresh session. ``last_error`` says what failed last.
    """

    def __init__(
        self,
        open_session: Callable[[], HeartbeatSession],
        worker_id: str,
        *,
        interval: float = DEFAULT_HEARTBEAT_INTERVAL,
        dead_after: float = DEFAULT_DEAD_AFTER,
    ) -> None:
        if interval <= 0 or dead_after < 2 * interval:
            raise ValueError("the heartbeat interval must be positive and dead_after at least twice it")
        self._open = open_session
        self.worker_id = worker_id
        self.interval = interval
        self.dead_after = dead_after
        self.last_beat: float | None = None  # time.monotonic() of the last beat written
        self.last_error: str | None = None
        self._streak_since: float | None = None  # first beat of the current run of timely beats
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"plugwork-heartbeat-{worker_id}", daemon=True)
        self._log = get_logger("plugwork.queue.heartbeat")

    @property
    def steady_after(self) -> float:
        """Seconds of timely beats after which this worker is :attr:`steady`: longer than a live worker can
        take to write its next beat once the store is back (an interval, plus the :data:`BEAT_TIMEOUT` of
        an attempt under way), and at least half of ``dead_after``."""
        return max(self.dead_after / 2, 2 * self.interval + BEAT_TIMEOUT)

    @property
    def steady(self) -> bool:
        """Whether this worker's beats have been written on time for the last :attr:`steady_after` seconds.

        Only then may it take another worker's silence for death: if it could not write its own heartbeat
        for a while (a database restarting, a long write lock), the others could not either, and each
        needs a moment to write again once the store is back.
        """
        since, last = self._streak_since, self.last_beat
        if since is None or last is None:
            return False
        now = time.monotonic()
        return now - since >= self.steady_after and now - last <= self.dead_after / 2

    def start(self) -> None:
        """Start beating (the first beat is written at once)."""
        self._thread.start()

    async def stop(self, timeout: float = 5.0) -> None:
        """Stop beating and retire the worker's row; waits at most ``timeout`` seconds for the thread."""
        self._stop.set()
        if self._thread.is_alive():
            await asyncio.to_thread(self._thread.join, timeout)

    def _written(self, now: float) -> None:
        last = self.last_beat
        if self._streak_since is None or last is None or now - last > self.dead_after / 2:
            self._streak_since = now  # a late beat starts a new run: the others may have been late too
        self.last_beat = now
        self.last_error = None

    def _run(self) -> None:
        session: HeartbeatSession | None = None
        failures = 0
        while not self._stop.is_set():
            try:
                if session is None:
                    session = self._open()
                session.beat(self.worker_id, self.dead_after)
            except Exception as exc:
                failures += 1
                self._streak_since = None
                self.last_error = f"{type(exc).__name__}: {exc}"
                if failures == 1 or failures % 60 == 0:
                    self._log.warning("worker heartbeat failed", error=self.last_error, failures=failures)
                _closed(session)
                session = None
            else:
                if failures:
                    self._log.info("worker heartbeat written again", failures=failures)
                failures = 0
                self._written(time.monotonic())
            self._stop.wait(self.interval)
        try:
            session = session or self._open()
            session.retire(self.worker_id)
        except Exception as exc:  # the row is reaped once dead_after passes: nothing is lost
            self._log.info(
                "could not retire the worker's heartbeat row", error=f"{type(exc).__name__}: {exc}"
            )
        finally:
            _closed(session)


def _closed(session: HeartbeatSession | None) -> None:
    if session is not None:
        with contextlib.suppress(Exception):  # a connection that broke cannot be closed cleanly either
            session.close()
