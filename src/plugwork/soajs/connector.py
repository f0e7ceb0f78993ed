"""Calling another SOAJS service: directly through the mesh, or through the gateway.

The rules (those of the Node and Go libraries):

* **mesh** — the target is in ``awareness.interConnect`` when its name matches and either no version was
  asked and the entry's ``version`` equals its ``latest``, or the version asked equals the entry's exactly.
  Then the host is the entry's ``host:port`` and the caller's ``soajsinjectobj`` is forwarded as received.
* **gateway** — otherwise the host is ``awareness.host:awareness.port`` and the path is prefixed with
  ``/<service>`` and, when a version was asked, ``/v<version>``. The headers carry the tenant's external key
  as ``key``, plus the caller's ``access_token`` and ``Authorization`` when it had them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..extras import require
from .context import HEADER
from .exceptions import SOAJSError
from .models import ConnectResponse, ContextData, InterConnect

DEFAULT_TIMEOUT = 30.0
CALLER_HEADERS = ("access_token", "authorization")
CALLER_KEY = "soajs.caller_headers"
"""Where a Plugwork invocation's ``Context.extras`` keeps the caller's ``access_token``/``Authorization``."""


class ServiceConnector:
    """Finds where to call a service for the request whose SOAJS ``context`` this is.

    ``context`` is a :class:`ContextData` or a Plugwork ``Context`` (its ``ctx.soajs``, and the caller's
    credentials the SOAJS carrier kept). ``caller_headers`` are the incoming request's headers (any
    mapping; only ``access_token`` and ``Authorization`` are kept, for gateway calls).
    """

    def __init__(self, context: Any, caller_headers: Mapping[str, str] | None = None) -> None:
        if not isinstance(context, ContextData):
            extras = getattr(context, "extras", None)
            kept = extras.get(CALLER_KEY) if isinstance(extras, dict) else None
            caller_headers = {**(kept or {}), **(caller_headers or {})}
            context = getattr(context, "soajs", None)
            if not isinstance(context, ContextData):
                raise SOAJSError("no SOAJS context: this call did not come through a SOAJS gateway")
        self.context: ContextData = context
        self.caller: dict[str, str] = {}
        for name, value in (caller_headers or {}).items():
            if name.lower() in CALLER_HEADERS and value:
                self.caller[name.lower()] = value

    def find_in_mesh(self, name: str, version: str | None = None) -> InterConnect | None:
        """The ``interConnect`` entry the mesh rule picks, or None."""
        for entry in self.context.awareness.inter_connect:
            if entry.name != name:
                continue
            if (version is None and entry.version == entry.latest) or (
                version is not None and entry.version == version
            ):
                return entry
        return None

    def connect(self, name: str, version: str | None = None) -> ConnectResponse:
        """Where and how to call ``name`` (``version``: None for the latest)."""
        version = None if version in (None, "") else str(version)
        entry = self.find_in_mesh(name, version)
        if entry is not None:
            return ConnectResponse(
                host=f"{entry.host}:{entry.port}", headers={HEADER: self._header()}, prefix="", mesh=True
            )
        awareness = self.context.awareness
        if not awareness.host:
            raise SOAJSError(f"cannot reach service {name!r}: not in the mesh and no gateway in the context")
        headers = {"key": self.context.key.e_key or ""}
        headers.update(self.caller)
        prefix = f"/{name}" + (f"/v{version}" if version else "")
        return ConnectResponse(host=f"{awareness.host}:{awareness.port}", headers=headers, prefix=prefix)

    def _header(self) -> str:
        if self.context.raw:
            return self.context.raw
        return self.context.model_dump_json(by_alias=True, exclude={"registry", "services_config"})

    async def call(
        self,
        name: str,
        path: str,
        *,
        version: str | None = None,
        method: str = "POST",
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        client: Any = None,
    ) -> Any:
        """Call ``path`` on service ``name`` and return the ``httpx.Response`` (bounded by ``timeout``).

        Pass an ``httpx.AsyncClient`` as ``client`` to reuse its connections.
        """
        httpx = _httpx()
        target = self.connect(name, version)
        if client is not None:
            return await client.request(
                method, target.url(path), headers=target.headers, json=json, params=params, timeout=timeout
            )
        async with httpx.AsyncClient(timeout=timeout) as own:
            return await own.request(
                method, target.url(path), headers=target.headers, json=json, params=params
            )

    def call_sync(
        self,
        name: str,
        path: str,
        *,
        version: str | None = None,
        method: str = "POST",
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> Any:
        """:meth:`call` for WSGI apps (blocks the calling thread)."""
        httpx = _httpx()
        target = self.connect(name, version)
        with httpx.Client(timeout=timeout) as client:
            return client.request(method, target.url(path), headers=target.headers, json=json, params=params)


def _httpx() -> Any:
    return require("httpx", extra="soajs")
