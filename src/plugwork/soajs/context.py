"""Reading the ``soajsinjectobj`` header into a :class:`ContextData`, and finding it again in a request.

The gateway sets the header on every request it proxies. It is parsed once per request by the middleware
(bounded: ``SOAJS_MAX_INJECT_HEADER_SIZE`` bytes, 65,536 by default, like the gateway's own limit) and put
where each framework can reach it: the ASGI scope's ``"soajs"`` key and the WSGI environ's
``"soajs.context"``; :func:`get_soajs_context` finds it from any of the frameworks' request objects.
"""

from __future__ import annotations

import os
from contextvars import ContextVar
from typing import Any

import orjson
from pydantic import ValidationError

from .exceptions import InjectHeaderError
from .models import ContextData, Registry
from .settings import DEFAULT_MAX_HEADER_SIZE

HEADER = "soajsinjectobj"
SCOPE_KEY = "soajs"
ENVIRON_KEY = "soajs.context"
current_pending: ContextVar[PendingContext | None] = ContextVar("plugwork_soajs_pending", default=None)
"""The checked header of the HTTP request being served, set by :class:`~plugwork.soajs.SOAJSMiddleware`."""


def max_header_size() -> int:
    """The size limit from ``SOAJS_MAX_INJECT_HEADER_SIZE`` (bytes), or 65,536."""
    value = os.environ.get("SOAJS_MAX_INJECT_HEADER_SIZE", "")
    return int(value) if value.isdigit() and int(value) > 0 else DEFAULT_MAX_HEADER_SIZE


class PendingContext:
    """A checked ``soajsinjectobj`` whose typed :class:`ContextData` is built on first use.

    The middleware checks every header at once (size, JSON, a ``tenant`` object with string ``id`` and
    ``code``): that costs ~4 µs, while building the typed models costs ~15 µs, which requests that never read
    the context need not pay. A type error found when building raises :class:`InjectHeaderError` (400).
    """

    __slots__ = ("_context", "data", "raw", "registry")

    def __init__(self, data: dict[str, Any], raw: bytes | str, registry: Registry | None) -> None:
        self.data = data
        self.raw = raw
        self.registry = registry
        self._context: ContextData | None = None

    def __getattr__(self, name: str) -> Any:
        # soajs-python code reads environ["soajs.context"].tenant.code directly: build on that first read.
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self.resolve(), name)

    def resolve(self) -> ContextData:
        """The typed context (built once)."""
        if self._context is None:
            try:
                context = ContextData.model_validate(self.data)
            except ValidationError as exc:
                raise InjectHeaderError(f"Malformed {HEADER} header: {_first_problem(exc)}") from None
            context.registry = self.registry
            context.raw = self.raw if isinstance(self.raw, str) else self.raw.decode("latin-1")
            self._context = context
        return self._context


def check_inject_header(
    raw: bytes | str, registry: Registry | None = None, *, max_size: int = DEFAULT_MAX_HEADER_SIZE
) -> PendingContext:
    """Check a ``soajsinjectobj`` value; :class:`InjectHeaderError` (400) when it is bad.

    The message names what is wrong and never echoes the value, which carries the tenant's keys.
    """
    if len(raw) > max_size:
        raise InjectHeaderError(f"The {HEADER} header exceeds {max_size} bytes")
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise InjectHeaderError(f"Malformed {HEADER} header: not valid JSON") from None
    if not isinstance(data, dict):
        raise InjectHeaderError(f"Malformed {HEADER} header: not a JSON object")
    tenant = data.get("tenant")
    if not isinstance(tenant, dict):
        raise InjectHeaderError(f"Malformed {HEADER} header: tenant: an object is required")
    for name in ("id", "code"):
        if not isinstance(tenant.get(name), str):
            raise InjectHeaderError(f"Malformed {HEADER} header: tenant.{name}: a string is required")
    return PendingContext(data, raw, registry)


def parse_inject_header(
    raw: bytes | str, registry: Registry | None = None, *, max_size: int = DEFAULT_MAX_HEADER_SIZE
) -> ContextData:
    """The typed context in a ``soajsinjectobj`` value, validated completely now."""
    return check_inject_header(raw, registry, max_size=max_size).resolve()


def _first_problem(exc: ValidationError) -> str:
    errors = exc.errors(include_url=False, include_context=False, include_input=False)
    if not errors:
        return "invalid"
    first = errors[0]
    if first["type"].startswith("json"):
        return "not valid JSON"
    where = ".".join(str(part) for part in first["loc"]) or "(value)"
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{where}: {first['msg']}{more}"


def get_soajs_context(request: Any) -> ContextData | None:
    """The SOAJS context of a request, or None when the request came without one.

    Accepts a Starlette/FastAPI ``Request``, a raw ASGI scope (``dict``), a WSGI environ (``dict``), a Flask
    request (or ``flask.request``), a Django ``HttpRequest`` and a Plugwork :class:`~plugwork.Context`.
    """
    if isinstance(request, dict):
        found = request.get(SCOPE_KEY) if "type" in request else request.get(ENVIRON_KEY)
        return _typed(found)
    soajs = getattr(request, "soajs", None)  # plugwork Context, or a request a user annotated
    if soajs is not None:
        return _typed(soajs)
    scope = getattr(request, "scope", None)  # Starlette / FastAPI
    if isinstance(scope, dict):
        return get_soajs_context(scope)
    environ = getattr(request, "environ", None)  # Flask / Werkzeug
    if environ is None:
        environ = getattr(request, "META", None)  # Django
    if isinstance(environ, dict):
        return get_soajs_context(environ)
    return None


def _typed(found: Any) -> ContextData | None:
    if isinstance(found, PendingContext):
        return found.resolve()
    return found if isinstance(found, ContextData) else None
