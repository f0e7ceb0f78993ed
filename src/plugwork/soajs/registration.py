"""Registering a service with the gateway, keeping it registered, and answering the gateway's health check.

``POST /register`` with ``mw: true`` — the flag the gateway reads (soajs-python sent ``middleware``, which the
gateway ignores, so it never wrote the service to its marketplace). A gateway that restarts forgets the hosts
registered with it, so the :class:`Registrar` asks ``/awarenessStat`` every few seconds and registers again
when this host is missing. The gateway routes to a service only after a healthy ``/heartbeat``, polled on
``port + maintenanceInc``: :class:`HeartbeatServer` answers it there.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import orjson

from ..observability.logging import get_logger
from .config import Config
from .exceptions import RegistryError
from .settings import CHECK_INTERVAL

if TYPE_CHECKING:
    from .wire import RegistryApi

log = get_logger("plugwork.soajs.registration")


class Registrar:
    """Registers ``config`` at ``ip`` with the gateway behind ``api``, and again whenever it forgets it."""

    def __init__(
        self, api: RegistryApi, config: Config, ip: str, api_list: list[dict[str, Any]] | None = None
    ) -> None:
        self.api = api
        self.config = config
        self.ip = ip
        self.body = config.registration(ip)
        if api_list:
            self.body["apiList"] = api_list
        self.registered_at: float | None = None
        self.last_error: str | None = None

    def is_known(self, awareness: Any) -> bool:
        """Whether an ``/awarenessStat`` answer lists this host for this service and version."""
        if not isinstance(awareness, dict):
            return False
        services = awareness.get("services")
        service = services.get(self.config.service_name) if isinstance(services, dict) else None
        hosts = service.get("hosts") if isinstance(service, dict) else None
        found = hosts.get(self.config.service_version) if isinstance(hosts, dict) else None
        return isinstance(found, list) and self.ip in found

    async def register(self) -> bool:
        """``POST /register``; False (and :attr:`last_error`) when the gateway refused or was unreachable."""
        try:
            await self.api.aregister(self.body)
        except RegistryError as exc:
            self.last_error = str(exc)
            log.warning("SOAJS registration failed", service=self.config.service_name, error=str(exc))
            return False
        self.registered_at, self.last_error = time.time(), None
        log.info("registered with the SOAJS gateway", service=self.config.service_name, url=self.api.base)
        return True

    async def check(self) -> bool:
        """Register if the gateway does not list this host (it restarted); True when registered now."""
        try:
            awareness = await self.api.aawareness()
        except RegistryError as exc:
            self.last_error = str(exc)
            return False
        if self.is_known(awareness):
            return True
        return await self.register()

    async def keep_registered(self, interval: float = CHECK_INTERVAL) -> None:
        """Check every ``interval`` seconds until cancelled."""
        while True:
            await asyncio.sleep(interval)
            await self.check()

    def check_sync(self) -> bool:
        """:meth:`check` from a thread (WSGI apps)."""
        try:
            if self.is_known(self.api.awareness()):
                return True
            self.register_sync()
        except RegistryError as exc:
            self.last_error = str(exc)
            return False
        return True

    def register_sync(self) -> None:
        """``POST /register`` from a thread (WSGI apps); raises :class:`RegistryError` when refused."""
        self.api.register(self.body)
        self.registered_at, self.last_error = time.time(), None


_MAX_REQUEST = 8192
_READ_TIMEOUT = 5.0


class HeartbeatServer:
    """A tiny HTTP server for the gateway's ``GET <readiness>`` on the maintenance port.

    Hand-written on asyncio streams: a second uvicorn server in the same process would take over the
    process's signal handlers, and this answers one fixed path. Requests are bounded (8 KiB, 5 s).
    """

    def __init__(
        self, host: str, port: int, ready: Callable[[], bool], info: dict[str, Any], path: str
    ) -> None:
        self.host, self.port, self.path = host, port, path
        self.ready = ready
        self.info = info
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        """Listen (raises OSError when the port is taken)."""
        self._server = await asyncio.start_server(self._serve, self.host, self.port, limit=_MAX_REQUEST)

    async def stop(self) -> None:
        """Stop listening and close open connections."""
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2.0)
            self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(_READ_TIMEOUT):
                head = await reader.readuntil(b"\r\n\r\n")
            method, _, rest = head.partition(b" ")
            target = rest.partition(b" ")[0].partition(b"?")[0].decode("latin-1")
            body: dict[str, Any]
            if method != b"GET" or target != self.path:
                status, body = "404 Not Found", {"result": False}
            elif self.ready():
                status, body = "200 OK", {"result": True, "ts": int(time.time() * 1000), "service": self.info}
            else:
                status, body = "503 Service Unavailable", {"result": False, "service": self.info}
            payload = orjson.dumps(body)
            writer.write(
                f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {len(payload)}\r\n"
                "Connection: close\r\n\r\n".encode()
                + payload
            )
            await writer.drain()
        except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
