"""The SOAJS context in Plugwork invocations: ``ctx.soajs``, and actions that need a tenant.

:class:`SoajsCarrier` fills ``ctx.soajs`` (a typed :class:`ContextData`) for HTTP invocations that came
through the gateway, from the header :class:`~plugwork.soajs.SOAJSMiddleware` checked for this request (the
transports hand carriers only values up to 8 KiB; the gateway's header may be 64 KiB). Only HTTP: a job
row or a Plugboard message could carry a forged ``soajsinjectobj`` from any producer, and the header is
never written out (it holds the tenant's keys, which must not land in job rows or in calls to other
services — use :class:`~plugwork.soajs.ServiceConnector` to call SOAJS services).

An action declares that it needs a tenant with ``@action(meta={"soajs": {"tenant": "required"}})`` —
optionally ``"tenants": ["CODE", ...]`` to admit only those — or with the per-action middleware
``require_tenant(...)``. Without a SOAJS context the call is refused with 401 UNAUTHORIZED; a tenant not
admitted gets 403 FORBIDDEN.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, MutableMapping
from typing import Any

from ..context import Context
from ..dispatch import CallNext, Invocation, Middleware, Outcome
from ..errors import ErrorCode
from .connector import CALLER_HEADERS, CALLER_KEY
from .context import current_pending
from .models import ContextData


class SoajsCarrier:
    """Reads the caller's SOAJS context into ``ctx.soajs`` (see the module docstring)."""

    keys: tuple[str, ...] = CALLER_HEADERS

    def extract(self, headers: Mapping[str, str], ctx: Context) -> None:
        """Set ``ctx.soajs``; raises :class:`InjectHeaderError` (400) when the typed models reject it."""
        pending = current_pending.get() if ctx.transport == "http" else None
        if pending is None:
            return
        caller = {name: headers[name] for name in CALLER_HEADERS if headers.get(name)}
        if caller:  # kept for ServiceConnector: gateway calls forward the caller's credentials
            ctx.extras[CALLER_KEY] = caller
        ctx.soajs = pending.resolve()

    def inject(self, ctx: Context, headers: MutableMapping[str, str]) -> None:
        """Nothing: the header carries the tenant's keys and is never forwarded by the transports."""


def tenant_refusal(context: Any, tenants: Collection[str] | None) -> Outcome | None:
    """The error outcome for an invocation without (an admitted) tenant, or None to let it run."""
    if not isinstance(context, ContextData):
        return Outcome.failure(
            ErrorCode.UNAUTHORIZED, "This action needs a SOAJS tenant: call it through SOAJS"
        )
    if tenants is not None and context.tenant.code not in tenants:
        return Outcome.failure(
            ErrorCode.FORBIDDEN, f"Tenant {context.tenant.code!r} may not call this action"
        )
    return None


def require_tenant(*tenants: str) -> Middleware:
    """Per-action middleware: refuse calls without a SOAJS tenant (or, given codes, from other tenants)."""
    admitted = frozenset(tenants) or None

    async def check(invocation: Invocation, call_next: CallNext) -> Outcome:
        refusal = tenant_refusal(invocation.context.soajs, admitted)
        return refusal if refusal is not None else await call_next(invocation)

    return check


async def tenant_guard(invocation: Invocation, call_next: CallNext) -> Outcome:
    """App-wide middleware enforcing ``meta={"soajs": {"tenant": "required", "tenants": [...]}}``."""
    spec = invocation.spec
    options = spec.meta.get("soajs") if spec is not None else None
    if options and options.get("tenant") == "required":
        tenants = options.get("tenants")
        refusal = tenant_refusal(invocation.context.soajs, frozenset(tenants) if tenants else None)
        if refusal is not None:
            return refusal
    return await call_next(invocation)
