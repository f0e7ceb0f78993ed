"""SOAJS support: Plugwork services behind a SOAJS gateway, and a middleware for any ASGI/WSGI app.

The names are soajs-python's, so that its users change an import line and nothing else::

    from plugwork.soajs import RegistryManager, SOAJSMiddleware, get_soajs_context

A Plugwork app needs no code at all: set ``SOAJS_REGISTRY_API``, ``SOAJS_ENV`` and ``SOAJS_DEPLOY_MANUAL``
and :class:`SoajsPlugin` registers it with the gateway, serves the gateway's health check and gives each
action the caller's context as ``ctx.soajs``. See docs/soajs.md.
"""

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
from .registry import RegistryManager

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
    "Tenant",
    "Urac",
    "check_inject_header",
    "get_soajs_context",
    "parse_inject_header",
]
