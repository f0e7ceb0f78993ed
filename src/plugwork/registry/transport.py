"""The one place remote calls touch HTTP: :func:`post_action` over a pooled ``httpx.AsyncClient``.

Kept to one small function so that the outbound HTTP client service can replace it later. It tells apart
the two failures that matter to failover: :class:`NotSent` (connecting failed: the action did not run, so
another instance may be tried) and :class:`LostReply` (the request may have reached the instance, which
then failed or vanished before answering: only an idempotent call may be tried elsewhere).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..extras import require

httpx = require("httpx", extra="registry")


class NotSent(Exception):
    """The request never reached the instance (connection refused, reset or timed out while connecting)."""


class LostReply(Exception):
    """The request may have been received, but no complete answer came back."""


class Timeout(LostReply):
    """No answer within the call's timeout."""


def new_client(max_connections: int) -> Any:
    """A pooled HTTP/1.1 client for remote calls (keep-alive: a call costs no new connection)."""
    limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections)
    return httpx.AsyncClient(limits=limits, timeout=30.0, follow_redirects=False, trust_env=False)


async def post_action(
    client: Any, url: str, body: bytes, headers: Mapping[str, str], timeout: float
) -> tuple[int, bytes]:
    """POST ``body`` (JSON) to ``url``; return the status and body, or raise NotSent / LostReply."""
    try:
        response = await client.post(
            url, content=body, headers={"content-type": "application/json", **headers}, timeout=timeout
        )
    except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
        raise NotSent(f"{type(exc).__name__}: {exc}") from exc
    except httpx.TimeoutException as exc:
        raise Timeout(f"no answer within {timeout:g}s") from exc
    except httpx.TransportError as exc:
        raise LostReply(f"{type(exc).__name__}: {exc}") from exc
    return response.status_code, response.content
