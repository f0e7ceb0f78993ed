"""The hub's state: settings, store, router, joined consumer sockets, caches, events, health and metrics.

The HTTP and WebSocket endpoints (:mod:`.server`, :mod:`.sockets`) are thin; everything they share is here.
Producer authentication and service look-ups are cached for ``auth_cache_ttl`` seconds (and dropped at once
when the store reports the account or service deleted), so the request path does not touch the store.
Deleted credentials end the sockets and producer access they authorised (:mod:`.revocation`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry

from ...http.limits import HttpLimits
from ...observability.health import HealthRegistry, HealthStatus
from ..protocol import DEFAULT_MAX_FRAME_BYTES
from .backplane import Backplane
from .lookups import CachedLookups
from .metrics import HubMetrics
from .models import Service, ServiceToken, hash_secret, new_id
from .revocation import Revocations
from .router import Answer, Consumer, HubError, Router
from .store import DEFAULT_STORE_URL, DEFAULT_TOKEN_VALIDITY_DAYS, HubEvent, HubStore

if TYPE_CHECKING:
    from .sockets import ConsumerSocket
    from .tracing import HubTracing

log = logging.getLogger(__name__)
_LIMITS = HttpLimits()


@dataclass(slots=True)
class HubSettings:
    """Everything a hub can be tuned with; the defaults are Plugboard's."""

    store_url: str = DEFAULT_STORE_URL
    admin_token: str | None = None
    dashboard: bool = False
    """Serve the read-only dashboard at ``/dashboard`` (guarded by ``admin_token``)."""
    request_timeout: float = 30.0
    max_outstanding: int = 10
    max_queued: int = 1000
    queue_max_age: float = 30.0
    idle_timeout: float = 60.0
    max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES
    max_body_bytes: int = 1024 * 1024
    max_actions_bytes: int = 256 * 1024
    max_forwarded_per_consumer: int = 1000
    token_validity_days: float = DEFAULT_TOKEN_VALIDITY_DAYS
    event_poll_interval: float = 0.25
    heartbeat_interval: float = 5.0
    dead_after: float = 15.0
    auth_cache_ttl: float = 10.0
    revalidate_interval: float = 5.0
    # HTTP connection limits, as plugwork run's http_* settings (see plugwork.http.limits)
    max_header_bytes: int = _LIMITS.max_header_bytes
    header_timeout: float = _LIMITS.header_timeout
    body_timeout: float = _LIMITS.body_timeout
    keep_alive_timeout: float = _LIMITS.keep_alive_timeout
    linger_bytes: int = _LIMITS.linger_bytes
    linger_timeout: float = _LIMITS.linger_timeout
    send_timeout: float = _LIMITS.send_timeout

    def http_limits(self) -> HttpLimits:
        """The limits the hub's HTTP connections (and WebSocket handshakes) are held to."""
        return HttpLimits(
            max_header_bytes=self.max_header_bytes,
            header_timeout=self.header_timeout,
            body_timeout=self.body_timeout,
            keep_alive_timeout=self.keep_alive_timeout,
            linger_bytes=self.linger_bytes,
            linger_timeout=self.linger_timeout,
            send_timeout=self.send_timeout,
        )


class Hub:
    """One hub process. ``await hub.start()`` before serving, ``await hub.stop()`` after."""

    def __init__(self, settings: HubSettings, store: HubStore, backplane: Backplane | None = None) -> None:
        self.settings = settings
        self.store = store
        self.id = new_id()
        self.router = Router(
            request_timeout=settings.request_timeout,
            max_outstanding=settings.max_outstanding,
            max_queued=settings.max_queued,
            queue_max_age=settings.queue_max_age,
        )
        self.connections: set[ConsumerSocket] = set()  # every accepted socket, joined or not
        self.sockets: dict[str, ConsumerSocket] = {}  # joined ones, by consumer id
        self.by_service: dict[str, dict[str, ConsumerSocket]] = {}
        ttl = settings.auth_cache_ttl
        self._accounts = CachedLookups[str](self._account_id, ttl)  # sha256(secret) -> account id
        self._services = CachedLookups[Service](store.get_service, ttl)
        self._tasks: set[asyncio.Task[Any]] = set()
        self._sweeper: asyncio.Task[None] | None = None
        self._revalidator: asyncio.Task[None] | None = None
        self.revocations = Revocations(self)
        self.backplane: Backplane = backplane or store.backplane(self)
        self.registry = CollectorRegistry()
        self.metrics = HubMetrics(self.registry, lambda: len(self.sockets))
        self.tracing: HubTracing | None = None
        """Spans for producer requests when tracing is on (set by the server at start)."""
        self.health = HealthRegistry()
        self.health.register("store", self._store_check)
        self.health.register("consumers", self._consumers_check, required=False)
        self.health.register("backplane", self._backplane_check)

    # -- lifecycle -------------------------------------------------------------------------------------------

    async def start(self) -> None:
        await self.backplane.start()
        self._sweeper = asyncio.create_task(self._sweep_idle(), name="plugboard-hub-idle")
        self._revalidator = asyncio.create_task(
            self.revocations.run(self.settings.revalidate_interval), name="plugboard-hub-revalidate"
        )

    async def stop(self) -> None:
        for task in (self._sweeper, self._revalidator):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self.router.close("the hub is shutting down")
        await self._accounts.close()
        await self._services.close()
        for socket in list(self.connections):
            await socket.close(1001, "the hub is shutting down")
        await self.backplane.stop()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        """Run ``coro`` in the background, keeping a reference and logging its failure."""
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("plugboard hub: background task failed: %r", task.exception())

    async def _sweep_idle(self) -> None:
        # One task for every socket, instead of a timer per received frame.
        idle = self.settings.idle_timeout
        while True:
            await asyncio.sleep(max(idle / 4, 0.01))
            cutoff = time.monotonic() - idle
            for socket in list(self.connections):
                if socket.last_seen < cutoff:
                    self.spawn(socket.close(1000, f"no message for {idle:g}s"))

    # -- authentication and look-ups -------------------------------------------------------------------------

    async def authenticate_producer(self, secret: str) -> bool:
        """Whether ``secret`` is an account's bearer token (cached briefly, by its digest)."""
        return await self._accounts.get(hash_secret(secret), secret) is not None

    async def _account_id(self, secret: str) -> str | None:
        account = await self.store.authenticate_account(secret)
        return None if account is None else account.id

    def forget_account(self, account_id: str) -> None:
        """Drop an account's cached authentication: its next request asks the store."""
        self._accounts.forget(lambda cached_id: cached_id == account_id)

    def cached_account_ids(self) -> set[str]:
        """The accounts whose authentication is cached here."""
        return set(self._accounts.values())

    async def authenticate_consumer(self, secret: str) -> ServiceToken | None:
        return await self.store.authenticate_token(secret)

    async def service(self, service_id: str) -> Service | None:
        """The service (cached briefly), or None."""
        return await self._services.get(service_id, service_id)

    async def actions_conflict(self, service_id: str, actions: str) -> bool:
        """Whether ``actions`` differs from what the service's other consumers declared."""
        local = self.by_service.get(service_id, {})
        if any(socket.actions != actions for socket in local.values()):
            return True
        return any(other != actions for other in await self.backplane.remote_actions(service_id))

    # -- consumers -------------------------------------------------------------------------------------------

    async def join(self, socket: ConsumerSocket) -> int:
        """Route requests to a socket that joined ``service``; returns the service's consumer count."""
        assert socket.actions is not None, "a socket declares its actions before it joins"
        send, send_now = socket.send_request, socket.send_request_now
        consumer = Consumer(socket.id, socket.service_id, self.id, send, send_now)
        self.sockets[socket.id] = socket
        self.by_service.setdefault(socket.service_id, {})[socket.id] = socket
        self.router.add(consumer)
        await self.backplane.register(socket.id, socket.service_id, socket.actions)
        return self.router.count(socket.service_id)

    async def leave(self, socket: ConsumerSocket, reason: str) -> None:
        """Stop routing to a socket; its requests in flight end with 503 at once."""
        if self.sockets.pop(socket.id, None) is None:
            return
        peers = self.by_service.get(socket.service_id, {})
        peers.pop(socket.id, None)
        if not peers:
            self.by_service.pop(socket.service_id, None)
        self.router.remove(socket.id, reason)
        for ref, (origin, _) in socket.forwarded.items():
            self.spawn(self.backplane.forward_response(origin, socket.id, ref, gone_answer(reason)))
        socket.forwarded.clear()
        try:
            await self.backplane.unregister(socket.id)
        except Exception as exc:  # the registry heals: other hubs re-read it at their next heartbeat
            log.warning("plugboard hub: cannot unregister consumer %s: %r", socket.id, exc)
        self.consumers_changed(socket.service_id)

    def consumers_changed(self, service_id: str) -> None:
        """Push the service's new consumer count to its sockets here."""
        self.push(service_id, "num_consumers", {"num_consumers": self.router.count(service_id)})

    def push(self, service_id: str, event: str, payload: dict[str, Any]) -> None:
        """Push an event to every socket of a service on this hub (in the background)."""
        for socket in list(self.by_service.get(service_id, {}).values()):
            self.spawn(socket.push(event, payload))

    async def deliver_forwarded(
        self,
        consumer_id: str,
        ref: str,
        origin: str,
        action: str,
        fields: Any,
        headers: dict[str, str] | None = None,
    ) -> None:
        """A request another hub routed to a consumer held here."""
        socket = self.sockets.get(consumer_id)
        if socket is None:
            answer = gone_answer("the consumer is not connected")
            await self.backplane.forward_response(origin, consumer_id, ref, answer)
            return
        forwarded = socket.forwarded
        if len(forwarded) >= self.settings.max_forwarded_per_consumer:
            # Requests the origin hub has long given up on (it answered 408) are forgotten first.
            cutoff = time.monotonic() - self.settings.request_timeout
            for stale in [r for r, (_, at) in forwarded.items() if at < cutoff]:
                del forwarded[stale]
        if len(forwarded) >= self.settings.max_forwarded_per_consumer:
            answer = Answer(503, "the consumer is overloaded", {})
            await self.backplane.forward_response(origin, consumer_id, ref, answer)
            return
        forwarded[ref] = (origin, time.monotonic())
        try:
            await socket.send_request(ref, action, fields, headers)
        except Exception as exc:
            socket.forwarded.pop(ref, None)
            await self.backplane.forward_response(origin, consumer_id, ref, gone_answer(str(exc)))

    def answer(self, socket: ConsumerSocket, ref: str, answer: Answer) -> None:
        """A consumer's response: to the producer waiting here, or to the hub it came from."""
        if self.router.resolve(ref, answer, socket.id):
            return
        forwarded = socket.forwarded.pop(ref, None)
        if forwarded is not None:
            self.spawn(self.backplane.forward_response(forwarded[0], socket.id, ref, answer))

    # -- events ----------------------------------------------------------------------------------------------

    def apply_event(self, event: HubEvent) -> None:
        """A change in the store (from any process): update caches and push it to the consumers concerned."""
        kind = event.get("kind")
        if kind == "account_deleted":
            self.revocations.account_deleted(event["account"]["id"])
        elif kind == "service_updated":
            service_id = event["service"]["id"]
            self._services.drop(service_id)
            for socket in self.by_service.get(service_id, {}).values():
                socket.service = Service(**event["service"])  # what a re-join replies
            self.push(service_id, "service_updated", {"service": event["service"]})
        elif kind == "service_deleted":
            self._services.drop(event["service"]["id"])
            self.revocations.service_deleted(event["service"])
        elif kind in ("token_created", "token_deleted"):
            self.push(event["token"]["service_id"], kind, {"token": event["token"]})
            if kind == "token_deleted":  # pushed to the service's sockets first, then its own are closed
                self.revocations.token_deleted(event["token"]["id"])

    # -- health ----------------------------------------------------------------------------------------------

    async def _store_check(self) -> tuple[HealthStatus, dict[str, Any]]:
        await self.store.ping()
        return HealthStatus.GREEN, {"url": _redact(self.store.url)}

    def _consumers_check(self) -> tuple[HealthStatus, dict[str, Any]]:
        services = {sid: self.router.count(sid) for sid in self.by_service}
        return HealthStatus.GREEN, {
            "connected": len(self.sockets),
            "by_service": services,
            "requests_in_flight": self.router.in_flight,
        }

    def _backplane_check(self) -> tuple[HealthStatus, dict[str, Any]]:
        ok, details = self.backplane.health()
        return (HealthStatus.GREEN if ok else HealthStatus.RED), {"hub_id": self.id, **details}


def gone_answer(reason: str) -> Answer:
    """The 503 a producer gets when the consumer holding its request goes away."""
    return Answer(503, f"the consumer disconnected before answering: {reason}", {})


def _redact(url: str) -> str:
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        return f"{scheme}://{creds.split(':', 1)[0]}:***@{host}" if ":" in creds else url
    return url


__all__ = ["Hub", "HubError", "HubSettings"]
