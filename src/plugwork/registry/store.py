"""The :class:`RegistryStore` protocol every registry store implements, and :func:`store_from_url`.

A store keeps two kinds of record (see :mod:`.models`): instances, each living ``ttl`` seconds past its
last :meth:`~RegistryStore.register`, and schema records, written once per service version and kept alive
by the same heartbeats. A record past its expiry is gone for every read at once, whether the store has
deleted it yet (Redis key expiry, MongoDB's TTL monitor) or not (the SQL stores delete lazily): nobody
has to clean up after a dead instance. Implementations: ``memory://``, ``sqlite:///path``,
``postgresql://...``, ``redis://...`` and ``mongodb://...``, all checked by one contract test suite.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from ..errors import ConfigError, StoreError
from .models import Instance, SchemaRecord, redact_url

MAX_INSTANCES = 10_000
"""The most instances one read returns: a bound on memory, far above any fleet a registry serves."""


class RegistryUnavailable(StoreError):
    """The registry store cannot be reached right now; the next heartbeat tries again."""


@runtime_checkable
class RegistryStore(Protocol):
    """Storage for live instances and published schemas. Times are epoch seconds (UTC)."""

    url: str

    async def open(self) -> None:
        """Connect and create collections, tables or indexes if needed. Idempotent."""

    async def close(self) -> None:
        """Release connections. Idempotent."""

    async def ping(self) -> None:
        """Raise :class:`RegistryUnavailable` when the store cannot be reached."""

    async def register(self, instance: Instance, ttl: float) -> Instance:
        """Create or replace ``instance``, stamped now, alive for ``ttl`` seconds; return the stored copy.

        Registration and heartbeat are the same call, so an instance whose record expired (a long pause)
        comes back with its next heartbeat. It also extends the expiry of the schema record of the
        instance's service version to the same time.
        """

    async def deregister(self, instance_id: str) -> bool:
        """Remove an instance now (graceful shutdown); return whether it was there."""

    async def instances(self, service: str | None = None) -> list[Instance]:
        """Live instances (of ``service``, or all), ordered by service name then instance id."""

    async def publish_schemas(self, record: SchemaRecord, ttl: float) -> bool:
        """Write ``record`` unless a live one exists for its service version; return whether it was written.

        Either way the record lives ``ttl`` seconds from now. Schemas are write-once per version: a
        changed schema needs a new version.
        """

    async def schemas(self, service: str, version: str | None = None) -> list[SchemaRecord]:
        """Live schema records of ``service`` (one ``version`` or all), newest publication first."""


def store_class(url: str) -> type[RegistryStore]:
    """The store class for ``url``, imported (a missing extra raises :class:`MissingDependency` here)."""
    if url.startswith("memory:"):
        from .stores.memory import MemoryRegistryStore

        return MemoryRegistryStore
    if url.startswith("sqlite:"):
        from .stores.sqlite import SQLiteRegistryStore

        return SQLiteRegistryStore
    if url.startswith(("postgresql:", "postgres:")):
        from .stores.postgres import PostgresRegistryStore

        return PostgresRegistryStore
    if url.startswith(("redis:", "rediss:", "unix:")):
        from .stores.redis import RedisRegistryStore

        return RedisRegistryStore
    if url.startswith(("mongodb:", "mongodb+srv:")):
        from .stores.mongodb import MongoRegistryStore

        return MongoRegistryStore
    raise ConfigError(
        f"unsupported registry URL {redact_url(url)!r} (use memory://, sqlite:///path.db, "
        "postgresql://..., redis://... or mongodb://...)",
        key="PLUGWORK_REGISTRY_URL",
    )


def store_from_url(url: str, *, database: str | None = None) -> RegistryStore:
    """The store for ``url``: ``memory://``, ``sqlite:///path.db``, ``postgresql://...``, ``redis://...``
    (``?prefix=`` sets the key prefix) or ``mongodb://...`` / ``mongodb+srv://...`` (the database is the
    URL's path, else ``database``, else ``microservices``)."""
    kind = store_class(url)
    if url.startswith(("mongodb:", "mongodb+srv:")):
        from .stores.mongodb import MongoRegistryStore

        return MongoRegistryStore(url, database=database)
    return kind(url)  # type: ignore[call-arg]


def newest_first(records: list[SchemaRecord]) -> list[SchemaRecord]:
    """Schema records ordered by publication time, newest first (then by version, for ties)."""
    return sorted(records, key=lambda r: (r.published_at, r.service_version), reverse=True)


def ordered(instances: list[Instance]) -> list[Instance]:
    """Instances in the order every store returns them."""
    return sorted(instances, key=lambda i: (i.service_name, i.instance_id))
