"""The service registry: instances that heartbeat, publish their schemas, and call each other.

``store_from_url`` picks the store (``memory://``, ``sqlite:///path.db``, ``postgresql://...``,
``redis://...``, ``mongodb://...``); see docs/registry.md.
"""

from .models import Instance, SchemaRecord, Transports
from .store import DEFAULT_REGISTRY_URL, RegistryStore, RegistryUnavailable, store_from_url

__all__ = [
    "DEFAULT_REGISTRY_URL",
    "Instance",
    "RegistryStore",
    "RegistryUnavailable",
    "SchemaRecord",
    "Transports",
    "store_from_url",
]
