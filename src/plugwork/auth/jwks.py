"""A JWKS cache: keys by ``kid``, refreshed on a schedule, last good keys kept when a refresh fails.

An unknown ``kid`` triggers a refetch (a key rotation), but at most once per ``min_refetch_seconds``, so
that a stream of tokens with made-up ``kid`` values cannot turn the service into a flood of requests to
the identity provider.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Collection
from typing import Any

from ..extras import require
from ..observability.logging import get_logger
from .provider import InvalidToken

jwt = require("jwt", extra="auth")

log = get_logger("plugwork.auth.jwks")
MAX_JWKS_BYTES = 1024 * 1024
Fetch = Callable[[], Awaitable[bytes]]


class JWKSCache:
    """Public keys from ``url`` (see the module docstring). ``fetch`` replaces the HTTP GET in tests."""

    def __init__(
        self,
        url: str,
        *,
        algorithms: Collection[str],
        cache_seconds: float = 300.0,
        min_refetch_seconds: float = 30.0,
        timeout: float = 5.0,
        fetch: Fetch | None = None,
    ) -> None:
        self.url = url
        self.algorithms = frozenset(algorithms)
        self.cache_seconds = cache_seconds
        self.min_refetch_seconds = min_refetch_seconds
        self.timeout = timeout
        self._fetch = fetch or self._http_get
        self._keys: dict[str | None, Any] = {}
        self._fetched_at = float("-inf")  # last successful fetch
        self._tried_at = float("-inf")  # last attempt, successful or not
        self._lock = asyncio.Lock()
        self.fetches = 0

    async def key(self, kid: str | None) -> Any:
        """The key for ``kid``; raises :class:`InvalidToken` when there is none."""
        now = time.monotonic()
        if now - self._fetched_at >= self.cache_seconds or (kid not in self._keys and self._may_refetch(now)):
            await self._refresh()
        found = self._keys.get(kid)
        if found is None:
            raise InvalidToken(f"no JWKS key with kid {kid!r}"[:120])
        return found

    def _may_refetch(self, now: float) -> bool:
        return now - self._tried_at >= self.min_refetch_seconds

    async def _refresh(self) -> None:
        async with self._lock:
            now = time.monotonic()
            if not self._may_refetch(now):
                # Another task refreshed while this one waited, or one failed moments ago: refreshes are
                # rate-limited even when the cache is stale (the last good keys stay in use).
                return
            self._tried_at = now
            self.fetches += 1
            try:
                async with asyncio.timeout(self.timeout):
                    body = await self._fetch()
                keys = self._parse(body)
            except Exception as exc:
                log.warning(
                    "JWKS refresh failed, keeping the last good keys",
                    error=type(exc).__name__,
                    keys=len(self._keys),
                )
                return
            self._keys, self._fetched_at = keys, time.monotonic()

    def _parse(self, body: bytes) -> dict[str | None, Any]:
        if len(body) > MAX_JWKS_BYTES:
            raise ValueError("JWKS document too large")
        keys: dict[str | None, Any] = {}
        for key in jwt.PyJWKSet.from_json(body.decode()).keys:
            alg = key.algorithm_name
            if key.public_key_use not in (None, "sig") or (alg and alg not in self.algorithms):
                continue
            keys[key.key_id] = key
        if len(keys) == 1 and None not in keys:
            keys[None] = next(iter(keys.values()))  # a lone key also serves tokens without a kid
        return keys

    async def _http_get(self) -> bytes:
        httpx = require("httpx", extra="auth")
        headers = {"accept": "application/json"}
        async with (
            httpx.AsyncClient(timeout=self.timeout, follow_redirects=False) as client,
            client.stream("GET", self.url, headers=headers) as response,
        ):
            response.raise_for_status()
            body = bytearray()
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > MAX_JWKS_BYTES:
                    raise ValueError("JWKS document too large")
            return bytes(body)

    def snapshot(self) -> dict[str, Any]:
        """For health details: how many keys, and how old they are."""
        age = time.monotonic() - self._fetched_at
        return {"keys": len({id(k) for k in self._keys.values()}), "age_seconds": round(age, 1)}
