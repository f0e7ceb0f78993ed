""":class:`Registry`: this app's cached view of the fleet, and the entry point of remote calls.

The view is a snapshot of the store's live instances, replaced as a whole by every heartbeat (from the
heartbeat thread: one reference assignment, so readers never lock). A call reads the snapshot, never the
store, so discovery costs nothing per call. Instances that refused a connection are skipped until they
heartbeat again: a killed instance stays listed until its TTL runs out, but calls stop going to it at
once. Inject it by type (``registry: Registry`` in an action or service) or use :func:`registry_of`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

from ..context import Context
from .balancing import STRATEGIES, Strategy
from .models import Instance, SchemaRecord
from .store import RegistryStore

if TYPE_CHECKING:
    from ..queue.client import JobQueue
    from .remote import Remote

HeaderSource = Callable[[Context | None], dict[str, str]]
MAX_CACHED_SCHEMAS = 256


def correlation_headers(ctx: Context | None) -> dict[str, str]:
    """The caller's correlation id, when called inside an invocation."""
    return {} if ctx is None else {"x-correlation-id": ctx.correlation_id}


class Fleet(NamedTuple):
    """One snapshot of the live instances, by service (each service's instances in a stable order)."""

    instances: tuple[Instance, ...]
    by_service: Mapping[str, tuple[Instance, ...]]
    refreshed_at: float


def _fleet(instances: Sequence[Instance]) -> Fleet:
    by_service: dict[str, list[Instance]] = {}
    for inst in instances:
        by_service.setdefault(inst.service_name, []).append(inst)
    return Fleet(tuple(instances), {k: tuple(v) for k, v in by_service.items()}, time.time())


class Registry:
    """The fleet as this app last saw it, plus what remote calls share: HTTP pool, strategies, counters."""

    def __init__(
        self,
        *,
        strategy: str = "round_robin",
        call_timeout: float = 30.0,
        max_connections: int = 100,
        headers: HeaderSource = correlation_headers,
        store: Callable[[], RegistryStore] | None = None,
        queue: Callable[[], JobQueue | None] = lambda: None,
        instance_id: str | None = None,
    ) -> None:
        if strategy not in STRATEGIES:
            raise ValueError(f"unknown strategy {strategy!r}: use one of {', '.join(STRATEGIES)}")
        self.default_strategy = strategy
        self.call_timeout = call_timeout
        self.instance_id = instance_id
        """This app's own instance id, when it registers itself."""
        self.headers = headers
        self.queue = queue
        self.in_flight: dict[str, int] = {}
        self._strategies: dict[str, Strategy] = {}
        self._fleet = Fleet((), {}, 0.0)
        self._down: dict[str, float] = {}
        self._max_connections = max_connections
        self._client: Any = None
        self._make_store = store
        self._store: RegistryStore | None = None
        self._schemas: dict[tuple[str, str], SchemaRecord] = {}

    # ----------------------------------------------------------------------------------------- the view
    def update(self, instances: Sequence[Instance]) -> None:
        """Replace the snapshot (called by the heartbeat, from its thread)."""
        self._fleet = _fleet(instances)

    @property
    def refreshed_at(self) -> float:
        """When the snapshot was last replaced (epoch seconds; 0 before the first heartbeat)."""
        return self._fleet.refreshed_at

    def services(self) -> dict[str, list[str]]:
        """Every service with live instances, and the versions they run."""
        return {
            name: sorted({i.service_version for i in instances})
            for name, instances in sorted(self._fleet.by_service.items())
        }

    def instances(self, service: str | None = None) -> list[Instance]:
        """Live instances (of ``service``, or all), healthy or not."""
        if service is None:
            return list(self._fleet.instances)
        return list(self._fleet.by_service.get(service, ()))

    def candidates(self, service: str, version: str | None = None) -> list[Instance]:
        """The instances a call may go to: serving HTTP, not RED, not refusing connections."""
        found = []
        for inst in self._fleet.by_service.get(service, ()):
            if not inst.healthy or inst.transports.http is None:
                continue
            if version is not None and inst.service_version != version:
                continue
            refused_at = self._down.get(inst.instance_id)
            if refused_at is not None and inst.last_heartbeat <= refused_at:
                continue
            found.append(inst)
        return found

    def mark_down(self, instance: Instance) -> None:
        """Skip ``instance`` until it heartbeats again (it refused a connection)."""
        self._down[instance.instance_id] = time.time()
        if len(self._down) > 4 * len(self._fleet.instances) + 64:  # bounded: forget the departed
            live = {i.instance_id for i in self._fleet.instances}
            self._down = {k: v for k, v in self._down.items() if k in live}

    def strategy(self, name: str | None = None) -> Strategy:
        """The strategy named ``name`` (default: the configured one), one shared object per name."""
        name = name or self.default_strategy
        found = self._strategies.get(name)
        if found is None:
            if name not in STRATEGIES:
                raise ValueError(f"unknown strategy {name!r}: use one of {', '.join(STRATEGIES)}")
            found = self._strategies[name] = STRATEGIES[name](self.in_flight)
        return found

    # ------------------------------------------------------------------------------------ remote calls
    def remote(self, service: str, *, version: str | None = None, strategy: str | None = None) -> Remote:
        """A client for ``service`` (any version, or exactly ``version``) using ``strategy``."""
        from .remote import Remote

        return Remote(self, service, version=version, strategy=self.strategy(strategy))

    @property
    def http(self) -> Any:
        """The pooled HTTP client of remote calls (created on first use, on the caller's event loop)."""
        if self._client is None:
            from .transport import new_client

            self._client = new_client(self._max_connections)
        return self._client

    async def schemas(self, service: str, version: str | None = None) -> list[SchemaRecord]:
        """Published schema records of ``service``, read from the store (not cached)."""
        if self._make_store is None:
            return []
        if self._store is None:
            self._store = self._make_store()
            await self._store.open()
        return await self._store.schemas(service, version)

    async def schema(self, service: str, version: str) -> SchemaRecord | None:
        """The schema record of one service version, cached (records are write-once per version)."""
        record = self._schemas.get((service, version))
        if record is None:
            found = await self.schemas(service, version)
            if not found:
                return None
            record = found[0]
            if len(self._schemas) >= MAX_CACHED_SCHEMAS:
                self._schemas.clear()
            self._schemas[(service, version)] = record
        return record

    async def close(self) -> None:
        """Close the HTTP pool and the store connection this view opened."""
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()
        store, self._store = self._store, None
        if store is not None:
            await store.close()
