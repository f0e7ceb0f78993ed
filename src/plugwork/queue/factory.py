"""Picking and opening a job store from its URL: the one place that knows every store.

``memory://`` (tests, dev mode), ``sqlite:///path.db`` (the embedded default) and ``postgresql://...``
(production; needs ``pip install 'plugwork[postgres]'``).
"""

from __future__ import annotations

from typing import Any

from ..errors import ConfigError
from .store import JobStore


def store_class(url: str) -> type[JobStore]:
    """The store class for ``url``; raises :class:`~plugwork.errors.ConfigError` for an unknown scheme and
    :class:`~plugwork.errors.MissingDependency` when the store's extra is not installed."""
    if url.startswith("memory:"):
        from .memory import MemoryJobStore

        return MemoryJobStore
    if url.startswith("sqlite:"):
        from .sqlite import SQLiteJobStore

        return SQLiteJobStore
    if url.startswith(("postgresql:", "postgres:")):
        from .postgres import PostgresJobStore

        return PostgresJobStore
    raise ConfigError(
        f"unsupported queue URL {url!r} (use memory://, sqlite:///path.db or postgresql://...)",
        key="PLUGWORK_QUEUE_URL",
    )


def store_from_url(url: str, *, auto_migrate: bool = True) -> JobStore:
    """The store for ``memory://``, ``sqlite:///path/to/file.db`` or ``postgresql://...`` (not yet open).

    With ``auto_migrate`` the SQL stores apply pending migrations when they open.
    """
    kind: Any = store_class(url)
    if url.startswith("memory:"):
        store: JobStore = kind(url)
    else:
        store = kind(url, auto_migrate=auto_migrate)
    return store


async def migrate(url: str) -> list[int]:
    """Apply the pending schema migrations of the store at ``url``; return the versions applied."""
    store = store_from_url(url, auto_migrate=False)
    try:
        return await store.migrate()
    finally:
        await store.close()
