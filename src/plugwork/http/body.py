"""What every Starlette route needs from a request: the body with a size limit (the fast path in asgi.py has
its own raw-ASGI reader), and the invocation context its carried headers describe."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from starlette.requests import Request

from ..carriers import Carriers
from ..context import Context, current_context


def is_json(content_type: bytes) -> bool:
    """Whether a ``Content-Type`` value is JSON: ``application/json`` or ``application/<x>+json``."""
    media = content_type.partition(b";")[0].strip().lower()
    return media == b"application/json" or (media.startswith(b"application/") and media.endswith(b"+json"))


def not_json(request: Request, body: bytes) -> bool:
    """True when a request with a body does not say it is JSON (415: forms and text/plain are what a
    browser posts cross-site without a CORS preflight). No body and no ``Content-Type`` is fine."""
    content_type = request.headers.get("content-type")
    if content_type is None:
        return bool(body)
    return not is_json(content_type.encode("latin-1"))


async def read_limited(request: Request, limit: int) -> bytes | None:
    """The request body, or None when it is over ``limit`` bytes (declared or streamed)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        return None
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            return None
    return bytes(body)


@contextmanager
def incoming_context(request: Request, carriers: Carriers, transport: str = "http") -> Iterator[Context]:
    """The context the request's carried headers describe, current while the block runs.

    What an action invoked (or a job enqueued) inside the block sees: the caller's correlation id, trace
    and identity travel on. A carrier may raise an :class:`~plugwork.errors.ActionError` for a bad header.
    """
    ctx = carriers.extract(
        carriers.select(request.headers.items()), Context(transport=transport, http_scope=request.scope)
    )
    ctx.request_id = ctx.correlation_id
    token = current_context.set(ctx)
    try:
        yield ctx
    finally:
        current_context.reset(token)
