"""A private event loop on a daemon thread: where ``host.handle`` runs events for plain sync callers."""

from __future__ import annotations

import asyncio
import threading


class LoopThread:
    """An event loop running forever on its own daemon thread until :meth:`stop`."""

    def __init__(self, name: str) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_forever()
        finally:
            self.loop.close()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the loop and wait (at most ``timeout`` seconds) for its thread."""
        if not self.loop.is_closed():
            self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout)
