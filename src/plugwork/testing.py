"""Test helpers for users' own tests: the full pipeline in-process, and HTTP over the ASGI app.

::

    async with TestClient(app) as client:
        assert (await client.call("greet", name="Ada")).message == "Hello, Ada!"
        response = await client.http.post("/actions/greet", json={"name": "Ada"})

The client starts the app with test-friendly settings (an in-memory job queue, no Plugboard connection)
unless told otherwise, and stops it on exit.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .context import Context
from .dispatch import Outcome

if TYPE_CHECKING:
    import httpx

    from .app import App

TEST_SETTINGS: dict[str, Any] = {"queue_url": "memory://", "plugboard_url": ""}


class TestClient:
    """Runs an :class:`App` for a test: ``call``/``invoke`` through the dispatcher, ``http`` over ASGI."""

    __test__ = False  # not a pytest test class

    def __init__(self, app: App, *, config_file: str | None = None, **settings: Any) -> None:
        self.app = app
        self._settings = {**TEST_SETTINGS, **settings}
        self._config_file = config_file
        self._http: httpx.AsyncClient | None = None

    async def __aenter__(self) -> TestClient:
        self.app.configure(self._config_file, **self._settings)
        await self.app.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._http is not None:
            await self._http.aclose()
        await self.app.stop()

    async def call(self, action: str, payload: Mapping[str, Any] | None = None, /, **fields: Any) -> Any:
        """The action's output; an error outcome raises :class:`plugwork.errors.ActionError`."""
        return await self.app.call(action, payload, **fields)

    async def invoke(
        self, action: str, payload: bytes | Mapping[str, Any] | None = None, *, context: Context | None = None
    ) -> Outcome:
        """The full :class:`Outcome`, errors included."""
        return await self.app.invoke(action, payload, context=context)

    @property
    def http(self) -> httpx.AsyncClient:
        """An ``httpx.AsyncClient`` talking to the app's ASGI application (needs httpx installed)."""
        if self._http is None:
            import httpx

            transport = httpx.ASGITransport(app=self.app.asgi)
            self._http = httpx.AsyncClient(transport=transport, base_url="http://testserver")
        return self._http
