"""SOAJS support: Plugwork services behind a SOAJS gateway, and a middleware for any ASGI/WSGI app.

The names are soajs-python's, so that its users change an import line and nothing else::

    from plugwork.soajs import RegistryManager, SOAJSMiddleware, get_soajs_context

A Plugwork app needs no code at all: set ``SOAJS_REGISTRY_API``, ``SOAJS_ENV`` and ``SOAJS_DEPLOY_MANUAL``
and :class:`SoajsPlugin` registers it with the gateway, serves the gateway's health check and gives each
action the caller's context as ``ctx.soajs``. See docs/soajs.md.

The names load on first use: every app imports the built-in plugin from this package, and the registry's
HTTP client needs the ``soajs`` extra (httpx), which a missing install names when first needed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..extras import lazy_exports

if TYPE_CHECKING:
    from .carrier import require_tenant
    from .config import Config
    from .connector import ServiceConnector
    from .context import check_inject_header, get_soajs_context, parse_inject_header
    from .exceptions import (
        ConfigValidationError,
        CustomNotFoundError,
        DatabaseNotFoundError,
        InjectHeaderError,
        RegistryError,
        ResourceNotFoundError,
        ServiceNotFoundError,
        SOAJSError,
    )
    from .middleware import SOAJSMiddleware, SOAJSWSGIMiddleware
    from .models import (
        Application,
        Awareness,
        ConnectResponse,
        ContextData,
        CustomRegistry,
        Database,
        Host,
        InterConnect,
        Key,
        Package,
        Registry,
        Resource,
        Service,
        ServiceConfig,
        Tenant,
        Urac,
    )
    from .plugin import SoajsPlugin
    from .registry import RegistryManager
    from .settings import SoajsSettings

__all__ = [
    "Application",
    "Awareness",
    "Config",
    "ConfigValidationError",
    "ConnectResponse",
    "ContextData",
    "CustomNotFoundError",
    "CustomRegistry",
    "Database",
    "DatabaseNotFoundError",
    "Host",
    "InjectHeaderError",
    "InterConnect",
    "Key",
    "Package",
    "Registry",
    "RegistryError",
    "RegistryManager",
    "Resource",
    "ResourceNotFoundError",
    "SOAJSError",
    "SOAJSMiddleware",
    "SOAJSWSGIMiddleware",
    "Service",
    "ServiceConfig",
    "ServiceConnector",
    "ServiceNotFoundError",
    "SoajsPlugin",
    "SoajsSettings",
    "Tenant",
    "Urac",
    "check_inject_header",
    "get_soajs_context",
    "parse_inject_header",
    "require_tenant",
]

_WHERE = {
    "carrier": ["require_tenant"],
    "config": ["Config"],
    "connector": ["ServiceConnector"],
    "context": ["check_inject_header", "get_soajs_context", "parse_inject_header"],
    "exceptions": [
        "ConfigValidationError",
        "CustomNotFoundError",
        "DatabaseNotFoundError",
        "InjectHeaderError",
        "RegistryError",
        "ResourceNotFoundError",
        "SOAJSError",
        "ServiceNotFoundError",
    ],
    "middleware": ["SOAJSMiddleware", "SOAJSWSGIMiddleware"],
    "models": [
        "Application",
        "Awareness",
        "ConnectResponse",
        "ContextData",
        "CustomRegistry",
        "Database",
        "Host",
        "InterConnect",
        "Key",
        "Package",
        "Registry",
        "Resource",
        "Service",
        "ServiceConfig",
        "Tenant",
        "Urac",
    ],
    "plugin": ["SoajsPlugin"],
    "registry": ["RegistryManager"],
    "settings": ["SoajsSettings"],
}
_MODULE_OF = {name: module for module, names in _WHERE.items() for name in names}


__getattr__ = lazy_exports(__name__, _MODULE_OF)


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
