"""The gateway's maintenance API (``SOAJS_REGISTRY_API``): ``getRegistry``, ``register``, ``awarenessStat``.

One parser for every answer (the ``{"result", "data", "errors"}`` envelope); a sync and an async httpx client
share it, each call bounded by a timeout and the answer by a size limit. Error messages name the URL (which
carries no secret) and the gateway's error codes, never a key.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from pydantic import ValidationError

from ..extras import require
from .exceptions import RegistryError
from .models import Registry

httpx = require("httpx", extra="soajs")
MAX_ANSWER_BYTES = 16 * 1024 * 1024


def parse_address(address: str | None) -> str:
    """``http://host:port`` from ``host:port``; :class:`RegistryError` naming the problem otherwise."""
    if not address:
        raise RegistryError("SOAJS_REGISTRY_API is not set (expected host:port)")
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536 or "/" in address:
        raise RegistryError(f"Invalid SOAJS_REGISTRY_API {address!r}: expected host:port")
    return f"http://{address}"


class RegistryApi:
    """Calls to one gateway's maintenance port."""

    def __init__(self, address: str | None, timeout: float = 10.0, transport: Any = None) -> None:
        self.base = parse_address(address)
        self.timeout = timeout
        self.transport = transport  # an httpx transport: tests pass a MockTransport
        self._client: Any = None
        self._aclient: Any = None

    @property
    def url(self) -> str:
        """The ``getRegistry`` URL (no query)."""
        return f"{self.base}/getRegistry"

    # ------------------------------------------------------------------------------------------- calls
    def get_registry(self, params: Mapping[str, str]) -> Registry:
        """``GET /getRegistry``, validated into a :class:`Registry`."""
        return _registry(self._call("GET", "/getRegistry", params=params), self.url)

    async def aget_registry(self, params: Mapping[str, str]) -> Registry:
        """``GET /getRegistry`` on the event loop."""
        return _registry(await self._acall("GET", "/getRegistry", params=params), self.url)

    def register(self, body: Mapping[str, Any]) -> Any:
        """``POST /register``; the gateway's ``data``."""
        return self._call("POST", "/register", json=dict(body))

    async def aregister(self, body: Mapping[str, Any]) -> Any:
        """``POST /register`` on the event loop."""
        return await self._acall("POST", "/register", json=dict(body))

    def awareness(self) -> Any:
        """``GET /awarenessStat`` from a thread."""
        return self._call("GET", "/awarenessStat")

    async def aawareness(self) -> Any:
        """``GET /awarenessStat``: the services the gateway knows now, with their hosts."""
        return await self._acall("GET", "/awarenessStat")

    # ------------------------------------------------------------------------------------------ plumbing
    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        if self._client is None:
            self._client = httpx.Client(timeout=self.timeout, transport=self.transport)
        url = self.base + path
        try:
            with self._client.stream(method, url, **kwargs) as response:
                body = b""
                for chunk in response.iter_bytes():
                    body += chunk
                    if len(body) > MAX_ANSWER_BYTES:
                        raise RegistryError(f"{url}: answer larger than {MAX_ANSWER_BYTES} bytes", url=url)
                return envelope(response.status_code, body, url)
        except httpx.HTTPError as exc:
            raise RegistryError(f"{url}: {type(exc).__name__}: {exc}", url=url) from None

    async def _acall(self, method: str, path: str, **kwargs: Any) -> Any:
        if self._aclient is None:
            transport = self.transport
            self._aclient = httpx.AsyncClient(timeout=self.timeout, transport=transport)
        url = self.base + path
        try:
            async with self._aclient.stream(method, url, **kwargs) as response:
                body = b""
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if len(body) > MAX_ANSWER_BYTES:
                        raise RegistryError(f"{url}: answer larger than {MAX_ANSWER_BYTES} bytes", url=url)
                return envelope(response.status_code, body, url)
        except httpx.HTTPError as exc:
            raise RegistryError(f"{url}: {type(exc).__name__}: {exc}", url=url) from None

    def close(self) -> None:
        """Close the sync client."""
        if self._client is not None:
            self._client.close()
            self._client = None

    async def aclose(self) -> None:
        """Close the async client."""
        if self._aclient is not None:
            await self._aclient.aclose()
            self._aclient = None


def envelope(status: int, body: bytes, url: str) -> Any:
    """The ``data`` of a maintenance answer; :class:`RegistryError` with the gateway's codes otherwise."""
    if not 200 <= status < 300:
        raise RegistryError(f"{url}: HTTP {status}", url=url)
    try:
        answer = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise RegistryError(f"{url}: the answer is not JSON", url=url) from None
    if not isinstance(answer, dict):
        raise RegistryError(f"{url}: the answer is not a JSON object", url=url)
    errors = answer.get("errors") or {}
    details = errors.get("details") if isinstance(errors, dict) else None
    if isinstance(details, list) and details:
        codes = tuple(int(d["code"]) for d in details if isinstance(d, dict) and str(d.get("code")).isdigit())
        text = "; ".join(f"[{d.get('code')}] {d.get('message')}" for d in details if isinstance(d, dict))
        raise RegistryError(f"{url}: the gateway answered {text}", url=url, codes=codes)
    if answer.get("result") is not True:
        raise RegistryError(f"{url}: the gateway answered result=false", url=url)
    return answer.get("data")


def _registry(data: Any, url: str) -> Registry:
    if not isinstance(data, dict):
        raise RegistryError(f"{url}: the answer has no registry data", url=url)
    try:
        return Registry.model_validate(data)
    except ValidationError as exc:
        first = exc.errors(include_url=False, include_input=False)[0]
        where = ".".join(str(p) for p in first["loc"])
        raise RegistryError(f"{url}: invalid registry: {where}: {first['msg']}", url=url) from None
