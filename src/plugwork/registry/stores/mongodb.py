"""The MongoDB :class:`~plugwork.registry.store.RegistryStore` (pymongo's ``AsyncMongoClient``).

usvc-lib's collections and documents, so that its consumers keep working: ``service_instances`` keyed by
``instance_id`` and ``service_schemas`` by ``(service_name, service_version)`` (unique indexes; shapes in
:mod:`..models` and docs/registry.md). Both carry a TTL index on ``expires_at`` (``expireAfterSeconds:
0``), so MongoDB deletes dead records itself; reads also filter on ``expires_at`` because the TTL monitor
runs only once a minute. The liveness probe is ``hello`` (``server_info()`` sends ``buildinfo``, which
some MongoDB-wire servers lack).
"""

from __future__ import annotations

import time
from typing import Any

from ...extras import require
from ..models import Instance, SchemaRecord, parse_documents, redact_url, utc
from ..store import MAX_INSTANCES, RegistryUnavailable, newest_first

pymongo: Any = require("pymongo", extra="mongodb")
DEFAULT_DATABASE = "microservices"
INSTANCES = "service_instances"
SCHEMAS = "service_schemas"


class MongoRegistryStore:
    """The registry in usvc-lib's MongoDB collections (see the module docstring)."""

    def __init__(
        self,
        url: str,
        *,
        database: str | None = None,
        max_pool_size: int = 2,
        min_pool_size: int = 1,
        timeout: float = 5.0,
    ) -> None:
        self.url = url
        self._database_name = database
        self._pool = (max_pool_size, min_pool_size)
        self._timeout_ms = int(timeout * 1000)
        self._errors: tuple[type[BaseException], ...] = (OSError, TimeoutError, pymongo.errors.PyMongoError)
        self._client: Any = None
        self._db: Any = None

    async def open(self) -> None:
        if self._client is not None:
            return
        client = pymongo.AsyncMongoClient(
            self.url,
            tz_aware=True,
            maxPoolSize=self._pool[0],
            minPoolSize=min(self._pool),
            serverSelectionTimeoutMS=self._timeout_ms,
            connectTimeoutMS=self._timeout_ms,
            socketTimeoutMS=self._timeout_ms * 2,
        )
        try:
            db = client.get_default_database(default=self._database_name or DEFAULT_DATABASE)
            await client.admin.command("hello")
            ttl = {"expireAfterSeconds": 0}
            await db[INSTANCES].create_index("expires_at", name="expires_at_ttl", **ttl)
            await db[INSTANCES].create_index("instance_id", name="instance_id", unique=True)
            await db[INSTANCES].create_index([("service_name", 1), ("instance_id", 1)], name="service")
            await db[SCHEMAS].create_index("expires_at", name="expires_at_ttl", **ttl)
            await db[SCHEMAS].create_index(
                [("service_name", 1), ("service_version", 1), ("published_at", 1)], name="service_version"
            )
            # Write-once per version: a second insert of the same service version is a duplicate key.
            await db[SCHEMAS].create_index(
                [("service_name", 1), ("service_version", 1)], name="schema_key", unique=True
            )
        except self._errors as exc:
            await client.close()
            raise RegistryUnavailable(f"MongoDB {redact_url(self.url)}: {type(exc).__name__}: {exc}") from exc
        self._client, self._db = client, db

    async def close(self) -> None:
        client, self._client, self._db = self._client, None, None
        if client is not None:
            await client.close()

    async def _run(self, operation: Any) -> Any:
        if self._db is None:
            await self.open()
        try:
            return await operation(self._db)
        except self._errors as exc:
            raise RegistryUnavailable(f"MongoDB: {type(exc).__name__}: {exc}") from exc

    async def ping(self) -> None:
        await self._run(lambda db: db.client.admin.command("hello"))

    async def register(self, instance: Instance, ttl: float) -> Instance:
        now = time.time()
        stored = instance.stamped(now, ttl)

        async def write(db: Any) -> None:
            await db[INSTANCES].replace_one(
                {"instance_id": stored.instance_id}, stored.to_document(), upsert=True
            )
            await db[SCHEMAS].update_one(
                {
                    "service_name": stored.service_name,
                    "service_version": stored.service_version,
                    "expires_at": {"$gt": utc(now)},
                },
                {"$set": {"expires_at": utc(stored.expires_at)}},
            )

        await self._run(write)
        return stored

    async def deregister(self, instance_id: str) -> bool:
        async def remove(db: Any) -> bool:
            result = await db[INSTANCES].delete_one(
                {"instance_id": instance_id, "expires_at": {"$gt": utc(time.time())}}
            )
            return bool(result.deleted_count)

        result: bool = await self._run(remove)
        return result

    async def instances(self, service: str | None = None) -> list[Instance]:
        query: dict[str, Any] = {"expires_at": {"$gt": utc(time.time())}}
        if service is not None:
            query["service_name"] = service

        async def read(db: Any) -> list[Instance]:
            cursor = db[INSTANCES].find(query).sort([("service_name", 1), ("instance_id", 1)])
            docs = await cursor.limit(MAX_INSTANCES).to_list(MAX_INSTANCES)
            return parse_documents(docs, Instance.from_document)

        result: list[Instance] = await self._run(read)
        return result

    async def publish_schemas(self, record: SchemaRecord, ttl: float) -> bool:
        now = time.time()
        doc = SchemaRecord(record.service_name, record.service_version, record.actions, now, now + ttl)
        document = doc.to_document()
        key = {"service_name": record.service_name, "service_version": record.service_version}
        duplicate = pymongo.errors.DuplicateKeyError

        async def write(db: Any) -> bool:
            live = await db[SCHEMAS].update_one(
                {**key, "expires_at": {"$gt": utc(now)}}, {"$set": {"expires_at": utc(now + ttl)}}
            )
            if live.matched_count:
                return False
            # No live record: write it (replacing an expired one the TTL monitor has not deleted yet).
            # Two instances of a new version racing here write the same schemas; on MongoDB the unique
            # index turns the second upsert into a duplicate key, answered as "already published".
            try:
                await db[SCHEMAS].replace_one(key, document, upsert=True)
            except duplicate:
                return False
            return True

        result: bool = await self._run(write)
        return result

    async def schemas(self, service: str, version: str | None = None) -> list[SchemaRecord]:
        query: dict[str, Any] = {"service_name": service, "expires_at": {"$gt": utc(time.time())}}
        if version is not None:
            query["service_version"] = version

        async def read(db: Any) -> list[SchemaRecord]:
            docs = await db[SCHEMAS].find(query).to_list(1000)
            return newest_first(parse_documents(docs, SchemaRecord.from_document))

        result: list[SchemaRecord] = await self._run(read)
        return result
