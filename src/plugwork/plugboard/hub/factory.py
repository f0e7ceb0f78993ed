"""Picking a hub store from its URL: the one place that knows every hub store.

``sqlite:///relative/path``, ``sqlite:////absolute/path`` (one hub) or ``postgresql://...`` (hubs that scale
out together; needs ``pip install 'plugwork[postgres]'``).
"""

from __future__ import annotations

from ...errors import ConfigError
from .store import DEFAULT_TOKEN_VALIDITY_DAYS, HubStore


def open_store(url: str, *, token_validity_days: float = DEFAULT_TOKEN_VALIDITY_DAYS) -> HubStore:
    """The store for ``url`` (not yet opened: ``await store.open()`` or ``async with``)."""
    if url.startswith("sqlite:"):
        from .sqlite import SQLiteHubStore

        return SQLiteHubStore(url, token_validity_days=token_validity_days)
    if url.startswith(("postgresql:", "postgres:")):
        from .postgres import PostgresHubStore

        return PostgresHubStore(url, token_validity_days=token_validity_days)
    raise ConfigError(f"unsupported hub store URL {url!r} (sqlite:///path or postgresql://...)", key="store")
