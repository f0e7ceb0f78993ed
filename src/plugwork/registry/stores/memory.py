"""The in-memory :class:`~plugwork.registry.store.RegistryStore`: for tests and single-process set-ups.

Thread-safe and bound to no event loop, so one instance can be shared by the heartbeat thread and the
app's loop, or by several apps in one test (pass it as ``RegistryPlugin(store=...)``).
"""

from __future__ import annotations

import threading
import time
from dataclasses import replace

from ..models import Instance, SchemaRecord
from ..store import MAX_INSTANCES, newest_first, ordered


class MemoryRegistryStore:
    """Instances and schema records in dictionaries, expired lazily on read."""

    def __init__(self, url: str = "memory://") -> None:
        self.url = url
        self._lock = threading.Lock()
        self._instances: dict[str, Instance] = {}
        self._schemas: dict[str, SchemaRecord] = {}

    async def open(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def ping(self) -> None:
        return None

    async def register(self, instance: Instance, ttl: float) -> Instance:
        now = time.time()
        stored = instance.stamped(now, ttl)
        key = f"{instance.service_name}:{instance.service_version}"
        with self._lock:
            self._instances[instance.instance_id] = stored
            record = self._schemas.get(key)
            if record is not None and record.expires_at > now:
                self._schemas[key] = replace(record, expires_at=now + ttl)
        return stored

    async def deregister(self, instance_id: str) -> bool:
        with self._lock:
            gone = self._instances.pop(instance_id, None)
        return gone is not None and gone.expires_at > time.time()

    async def instances(self, service: str | None = None) -> list[Instance]:
        now = time.time()
        with self._lock:
            for key in [k for k, i in self._instances.items() if i.expires_at <= now]:
                del self._instances[key]
            live = [i for i in self._instances.values() if service is None or i.service_name == service]
        return ordered(live)[:MAX_INSTANCES]

    async def publish_schemas(self, record: SchemaRecord, ttl: float) -> bool:
        now = time.time()
        with self._lock:
            existing = self._schemas.get(record.key)
            if existing is not None and existing.expires_at > now:
                self._schemas[record.key] = replace(existing, expires_at=now + ttl)
                return False
            self._schemas[record.key] = replace(record, published_at=now, expires_at=now + ttl)
            return True

    async def schemas(self, service: str, version: str | None = None) -> list[SchemaRecord]:
        now = time.time()
        with self._lock:
            found = [
                r
                for r in self._schemas.values()
                if r.service_name == service
                and r.expires_at > now
                and (version is None or r.service_version == version)
            ]
        return newest_first(found)
