"""The per-invocation :class:`Context` and the contextvar that carries it."""

from __future__ import annotations

import os
from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any


def new_correlation_id() -> str:
    """A fresh 128-bit random id as 32 hex characters (the shape of ``uuid4().hex``, 4x cheaper)."""
    return os.urandom(16).hex()


@dataclass(slots=True)
class Context:
    """What a handler may know about the invocation it serves.

    Transports fill in what they have: the HTTP transport the request id and auth claims, the queue the job
    id and attempt number, the Plugboard consumer the ``response_ref``.
    """

    correlation_id: str = field(default_factory=new_correlation_id)
    transport: str = "call"
    action: str = ""
    request_id: str | None = None
    job_id: str | None = None
    attempt: int = 1
    deadline: float | None = None
    """Absolute deadline on the event loop's clock (``loop.time()``), if the caller set one."""
    auth: dict[str, Any] | None = None
    tenant: Any = None
    trace: dict[str, str] | None = None
    extras: dict[str, Any] = field(default_factory=dict)
    soajs: Any = None
    """The SOAJS request context (``plugwork.soajs.ContextData``) of a call that came through a gateway."""
    http_scope: Mapping[str, Any] | None = None
    """The ASGI scope of the HTTP request that made an ``http`` invocation (method, path, the matched
    route), set by the HTTP transports; None on other transports."""


current_context: ContextVar[Context | None] = ContextVar("plugwork_context", default=None)


def get_context() -> Context:
    """The context of the invocation running now. Raises ``LookupError`` outside one."""
    ctx = current_context.get()
    if ctx is None:
        raise LookupError("no Plugwork invocation is running in this task")
    return ctx
