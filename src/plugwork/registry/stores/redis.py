"""The Redis :class:`~plugwork.registry.store.RegistryStore`: records that expire by Redis key expiry.

Keys, under a prefix (``?prefix=`` in the URL, default ``plugwork:registry:``):

- ``instance:<id>``: the instance document (JSON), with a ``PX`` expiry of the TTL, renewed by heartbeats;
- ``service:<name>``: a sorted set of the service's instance ids scored by their expiry, so a service's
  instances are listed without a ``SCAN``; ``services``: the service names scored the same way;
- ``schema:<name>:<version>``: the schema record, written with ``SET NX`` (write-once) and the same expiry;
  ``schemas:<name>``: its versions scored by expiry.

Index entries of a dead instance outlive its key by at most one TTL and are skipped (their score has
passed, or their key is gone) and trimmed by the next registration.
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import orjson

from ...extras import require
from ..models import Instance, SchemaRecord, redact_url
from ..store import MAX_INSTANCES, RegistryUnavailable, newest_first

aioredis: Any = require("redis.asyncio", extra="redis")
DEFAULT_PREFIX = "plugwork:registry:"


def split_prefix(url: str) -> tuple[str, str]:
    """``url`` without its ``prefix`` query parameter, and that prefix (or the default)."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    prefix = next((value for key, value in query if key == "prefix"), DEFAULT_PREFIX)
    rest = urlencode([(key, value) for key, value in query if key != "prefix"])
    return urlunsplit((parts.scheme, parts.netloc, parts.path, rest, parts.fragment)), prefix


class RedisRegistryStore:
    """The registry in Redis keys (see the module docstring)."""

    def __init__(self, url: str, *, timeout: float = 5.0) -> None:
        self.url = url
        self._redis_url, self.prefix = split_prefix(url)
        self._timeout = timeout
        self._errors: tuple[type[BaseException], ...] = (OSError, TimeoutError, aioredis.RedisError)
        self._client: Any = None

    async def open(self) -> None:
        if self._client is not None:
            return
        client = aioredis.from_url(
            self._redis_url,
            socket_timeout=self._timeout,
            socket_connect_timeout=self._timeout,
            decode_responses=False,
        )
        try:
            await client.ping()
        except self._errors as exc:
            await client.aclose()
            raise RegistryUnavailable(f"Redis {redact_url(self._redis_url)}: {exc}") from exc
        self._client = client

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()

    async def _run(self, operation: Any) -> Any:
        if self._client is None:
            await self.open()
        try:
            return await operation(self._client)
        except self._errors as exc:
            raise RegistryUnavailable(f"Redis: {type(exc).__name__}: {exc}") from exc

    def _key(self, *parts: str) -> str:
        return self.prefix + ":".join(parts)

    async def ping(self) -> None:
        await self._run(lambda client: client.ping())

    async def register(self, instance: Instance, ttl: float) -> Instance:
        now = time.time()
        stored = instance.stamped(now, ttl)
        ttl_ms = max(1, int(ttl * 1000))
        name = stored.service_name

        async def write(client: Any) -> None:
            async with client.pipeline(transaction=True) as pipe:
                pipe.set(self._key("instance", stored.instance_id), orjson.dumps(stored.to_json()), px=ttl_ms)
                pipe.zadd(self._key("service", name), {stored.instance_id: stored.expires_at})
                pipe.zremrangebyscore(self._key("service", name), "-inf", now)
                pipe.pexpire(self._key("service", name), ttl_ms)
                pipe.zadd(self._key("services"), {name: stored.expires_at}, gt=True)
                pipe.zremrangebyscore(self._key("services"), "-inf", now)
                pipe.pexpire(self._key("schema", name, stored.service_version), ttl_ms)
                pipe.zadd(self._key("schemas", name), {stored.service_version: stored.expires_at}, xx=True)
                pipe.pexpire(self._key("schemas", name), ttl_ms, gt=True)
                await pipe.execute()

        await self._run(write)
        return stored

    async def deregister(self, instance_id: str) -> bool:
        async def remove(client: Any) -> bool:
            raw = await client.get(self._key("instance", instance_id))
            if raw is None:
                return False
            name = orjson.loads(raw)["service_name"]
            async with client.pipeline(transaction=True) as pipe:
                pipe.delete(self._key("instance", instance_id))
                pipe.zrem(self._key("service", name), instance_id)
                deleted, _ = await pipe.execute()
            return bool(deleted)

        result: bool = await self._run(remove)
        return result

    async def instances(self, service: str | None = None) -> list[Instance]:
        now = time.time()

        async def read(client: Any) -> list[Instance]:
            if service is None:
                names = [n.decode() for n in await client.zrangebyscore(self._key("services"), now, "+inf")]
            else:
                names = [service]
            if not names:
                return []
            # Three round trips whatever the fleet: names, every service's ids, every document.
            async with client.pipeline(transaction=False) as pipe:
                for name in sorted(names):
                    pipe.zrangebyscore(self._key("service", name), now, "+inf", start=0, num=MAX_INSTANCES)
                id_lists = await pipe.execute()
            keys = [self._key("instance", i.decode()) for ids in id_lists for i in sorted(ids)][
                :MAX_INSTANCES
            ]
            docs = await client.mget(keys) if keys else []
            found = [Instance.from_document(orjson.loads(doc)) for doc in docs if doc is not None]
            return [i for i in found if i.expires_at > now]

        result: list[Instance] = await self._run(read)
        return result

    async def publish_schemas(self, record: SchemaRecord, ttl: float) -> bool:
        now = time.time()
        ttl_ms = max(1, int(ttl * 1000))
        fresh = SchemaRecord(record.service_name, record.service_version, record.actions, now, now + ttl)
        key = self._key("schema", record.service_name, record.service_version)

        async def write(client: Any) -> bool:
            written = await client.set(key, orjson.dumps(fresh.to_json()), px=ttl_ms, nx=True)
            async with client.pipeline(transaction=True) as pipe:
                if not written:
                    pipe.pexpire(key, ttl_ms)
                versions = self._key("schemas", record.service_name)
                pipe.zadd(versions, {record.service_version: now + ttl})
                pipe.zremrangebyscore(versions, "-inf", now)
                pipe.pexpire(versions, ttl_ms, gt=True)
                pipe.pexpire(versions, ttl_ms, nx=True)
                await pipe.execute()
            return bool(written)

        result: bool = await self._run(write)
        return result

    async def schemas(self, service: str, version: str | None = None) -> list[SchemaRecord]:
        now = time.time()

        async def read(client: Any) -> list[SchemaRecord]:
            if version is not None:
                versions = [version]
            else:
                raw = await client.zrangebyscore(self._key("schemas", service), now, "+inf")
                versions = [v.decode() for v in raw]
            if not versions:
                return []
            keys = [self._key("schema", service, v) for v in versions]
            async with client.pipeline(transaction=False) as pipe:
                for key in keys:
                    pipe.get(key)
                    pipe.pttl(key)
                results = await pipe.execute()
            records = []
            for doc, pttl in zip(results[::2], results[1::2], strict=True):
                if doc is None or pttl is None or pttl < 0:
                    continue
                record = SchemaRecord.from_document(orjson.loads(doc))
                # The key's own expiry is the truth; the JSON keeps the expiry of the first write.
                records.append(
                    SchemaRecord(
                        record.service_name,
                        record.service_version,
                        record.actions,
                        record.published_at,
                        now + pttl / 1000,
                    )
                )
            return newest_first(records)

        result: list[SchemaRecord] = await self._run(read)
        return result
