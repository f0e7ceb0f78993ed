"""The service registry: instances that heartbeat, publish their schemas, and call each other.

The built-in :class:`RegistryPlugin` turns on with ``PLUGWORK_REGISTRY_URL`` (``memory://``,
``sqlite:///path.db``, ``postgresql://...``, ``redis://...``, ``mongodb://...``) or usvc-lib's
``MONGODB_URI``. Actions and services get the :class:`Registry` view injected by type and call other
services with ``registry.remote("billing").call("charge", {...})``. See docs/registry.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..extras import lazy_exports

if TYPE_CHECKING:
    from .models import Instance, SchemaRecord, Transports
    from .plugin import RegistryPlugin, registry_of, remote
    from .remote import Remote
    from .settings import DEFAULT_REGISTRY_URL, RegistrySettings
    from .store import RegistryStore, RegistryUnavailable, store_from_url
    from .stubs import Stub
    from .view import Registry

__all__ = [
    "DEFAULT_REGISTRY_URL",
    "Instance",
    "Registry",
    "RegistryPlugin",
    "RegistrySettings",
    "RegistryStore",
    "RegistryUnavailable",
    "Remote",
    "SchemaRecord",
    "Stub",
    "Transports",
    "registry_of",
    "remote",
    "store_from_url",
]

# Names load on first use: every app imports the built-in plugin from this package, enabled or not, and
# Remote and Stub need the registry extra (httpx, jsonschema).
_WHERE = {
    "models": ["Instance", "SchemaRecord", "Transports"],
    "plugin": ["RegistryPlugin", "registry_of", "remote"],
    "remote": ["Remote"],
    "settings": ["DEFAULT_REGISTRY_URL", "RegistrySettings"],
    "store": ["RegistryStore", "RegistryUnavailable", "store_from_url"],
    "stubs": ["Stub"],
    "view": ["Registry"],
}
_MODULE_OF = {name: module for module, names in _WHERE.items() for name in names}


__getattr__ = lazy_exports(__name__, _MODULE_OF)


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
