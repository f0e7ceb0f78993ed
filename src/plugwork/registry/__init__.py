"""The service registry: instances that heartbeat, publish their schemas, and call each other.

The built-in :class:`RegistryPlugin` turns on with ``PLUGWORK_REGISTRY_URL`` (``memory://``,
``sqlite:///path.db``, ``postgresql://...``, ``redis://...``, ``mongodb://...``) or usvc-lib's
``MONGODB_URI``. Actions and services get the :class:`Registry` view injected by type and call other
services with ``registry.remote("billing").call("charge", {...})``. See docs/registry.md.
"""

from typing import TYPE_CHECKING

from ..extras import lazy_exports
from .models import Instance, SchemaRecord, Transports
from .plugin import RegistryPlugin, registry_of, remote
from .settings import RegistrySettings
from .store import DEFAULT_REGISTRY_URL, RegistryStore, RegistryUnavailable, store_from_url
from .view import Registry

if TYPE_CHECKING:
    from .remote import Remote
    from .stubs import Stub

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


# Remote and Stub need the registry extra (httpx, jsonschema): imported when first asked for.
__getattr__ = lazy_exports(__name__, {"Remote": "remote", "Stub": "stubs"})
