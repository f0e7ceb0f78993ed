"""Test helpers for users' own tests: the full pipeline in-process, and HTTP over the ASGI app.

::

    async with TestClient(app, provide={Mailer: FakeMailer()}) as client:
        assert (await client.call("greet", name="Ada")).message == "Hello, Ada!"
        response = await client.http.post("/actions/greet", json={"name": "Ada"})
        await client.app.enqueue("send_welcome", {"to": "ada@example.org"})
        await client.drain()                       # every queued job has run

The client starts the app with test-friendly settings (an in-memory job queue, no Plugboard connection)
unless told otherwise, and stops it on exit. Its settings and ``provide`` fakes hold for this client only:
the same module-level app can be used by any number of tests, one client after another.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from contextlib import ExitStack
from typing import TYPE_CHECKING, Any

from .context import Context
from .dispatch import Outcome

if TYPE_CHECKING:
    import httpx

    from .app import App

TEST_SETTINGS: dict[str, Any] = {"queue_url": "memory://", "plugboard_url": ""}


class TestClient:
    """Runs an :class:`App` for a test: ``call``/``invoke`` through the dispatcher, ``http`` over ASGI.

    ``settings`` override the app's settings and ``provide`` maps types to fakes injected in their place,
    for this client only.
    """

    __test__ = False  # not a pytest test class

    def __init__(
        self,
        app: App,
        *,
        config_file: str | None = None,
        provide: Mapping[type, Any] | None = None,
        **settings: Any,
    ) -> None:
        self.app = app
        self._settings = {**TEST_SETTINGS, **settings}
        self._config_file = config_file
        self._provide = dict(provide or {})
        self._http: httpx.AsyncClient | None = None
        self._stack = ExitStack()

    async def __aenter__(self) -> TestClient:
        self._stack.enter_context(
            self.app.overridden(self._config_file, provide=self._provide, **self._settings)
        )
        try:
            await self.app.start()
        except BaseException:
            self._stack.close()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        try:
            if self._http is not None:
                await self._http.aclose()
                self._http = None
            await self.app.stop()
        finally:
            self._stack.close()

    async def call(self, action: str, payload: Mapping[str, Any] | None = None, /, **fields: Any) -> Any:
        """The action's output; an error outcome raises :class:`plugwork.errors.ActionError`."""
        return await self.app.call(action, payload, **fields)

    async def invoke(
        self, action: str, payload: bytes | Mapping[str, Any] | None = None, *, context: Context | None = None
    ) -> Outcome:
        """The full :class:`Outcome`, errors included."""
        return await self.app.invoke(action, payload, context=context)

    async def drain(self, timeout: float = 10.0) -> dict[str, int]:
        """Wait until no job is ready, assigned or processing (jobs scheduled for later count as waiting).

        Returns the job counts by status. Raises ``TimeoutError`` naming what is left after ``timeout``.
        """
        from .queue import JobQueue

        queue = self.app.get(JobQueue)
        pending = ("ready", "assigned", "processing")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        pause = 0.002
        while True:
            counts = await queue.counts()
            if not any(counts.get(status) for status in pending):
                return counts
            if loop.time() >= deadline:
                left = {status: counts[status] for status in pending if counts.get(status)}
                raise TimeoutError(f"jobs still pending after {timeout}s: {left}")
            await asyncio.sleep(pause)
            pause = min(pause * 2, 0.05)

    @property
    def http(self) -> httpx.AsyncClient:
        """An ``httpx.AsyncClient`` talking to the app's ASGI application (needs httpx installed)."""
        if self._http is None:
            import httpx

            transport = httpx.ASGITransport(app=self.app.asgi)
            self._http = httpx.AsyncClient(transport=transport, base_url="http://testserver")
        return self._http
