"""The SOAJS context in Plugwork invocations: ``ctx.soajs``, and actions that need a tenant.

:class:`SoajsCarrier` fills ``ctx.soajs`` (a typed :class:`ContextData`) for invocations that came through the
gateway: over HTTP from the header :class:`~plugwork.soajs.SOAJSMiddleware` already checked (headers over
8 KiB never reach carriers), elsewhere from a carried ``soajsinjectobj``. It never writes the header out:
it holds the tenant's keys, which must not land in job rows or in calls to other services (use
:class:`~plugwork.soajs.ServiceConnector` to call SOAJS services).

An action declares that it needs a tenant with ``@action(meta={"soajs": {"tenant": "required"}})`` —
optionally ``"tenants": ["CODE", ...]`` to admit only those — or with the per-action middleware
``require_tenant(...)``. Without a SOAJS context the call is refused with 401 UNAUTHORIZED; a tenant not
admitted gets 403 FORBIDDEN.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, MutableMapping
from typing import TYPE_CHECKING, Any

from ..context import Context
from ..dispatch import CallNext, Invocation, Middleware, Outcome
from ..errors import ErrorCode
from .connector import CALLER_HEADERS, CALLER_KEY
from .context import DEFAULT_MAX_HEADER_SIZE, HEADER, check_inject_header, current_pending
from .models import ContextData

if TYPE_CHECKING:
    from .registry import RegistryManager


class SoajsCarrier:
    """Reads the caller's SOAJS context into ``ctx.soajs`` (see the module docstring)."""

    keys: tuple[str, ...] = (HEADER, *CALLER_HEADERS)

    def __init__(self, registry: RegistryManager | None, max_size: int = DEFAULT_MAX_HEADER_SIZE) -> None:
        self.registry = registry
        self.max_size = max_size

    def extract(self, headers: Mapping[str, str], ctx: Context) -> None:
        """Set ``ctx.soajs``; raises :class:`InjectHeaderError` (400) for a malformed header."""
        caller = {name: headers[name] for name in CALLER_HEADERS if headers.get(name)}
        if caller:  # kept for ServiceConnector: gateway calls forward the caller's credentials
            ctx.extras[CALLER_KEY] = caller
        pending = current_pending.get()
        if pending is None:
            raw = headers.get(HEADER)
            if raw is None:
                return
            registry = self.registry.current if self.registry is not None else None
            pending = check_inject_header(raw, registry, max_size=self.max_size)
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
