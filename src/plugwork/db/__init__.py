"""The data layer: the :class:`Database` service, model mixins, ``Repository[Model]`` and Alembic.

Needs the ``db`` extra (``pip install 'plugwork[db]'``): SQLAlchemy 2 (async), Alembic, and the
drivers. See docs/database.md. Names are loaded on first use, so that the ``plugwork db`` commands (and
``import plugwork``) work without the extra, and a missing extra is reported with its install hint.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..extras import lazy_exports

if TYPE_CHECKING:
    from .database import Database
    from .models import NAMING_CONVENTION, Base, SoftDeleteMixin, TimestampMixin, UUIDMixin
    from .plugin import DatabasePlugin
    from .repository import BaseRepository, RecordNotFound, Repository
    from .settings import DatabaseSettings

_WHERE = {
    "Database": "database",
    "DatabasePlugin": "plugin",
    "DatabaseSettings": "settings",
    "NAMING_CONVENTION": "models",
    "Base": "models",
    "SoftDeleteMixin": "models",
    "TimestampMixin": "models",
    "UUIDMixin": "models",
    "BaseRepository": "repository",
    "RecordNotFound": "repository",
    "Repository": "repository",
}
__all__ = [
    "NAMING_CONVENTION",
    "Base",
    "BaseRepository",
    "Database",
    "DatabasePlugin",
    "DatabaseSettings",
    "RecordNotFound",
    "Repository",
    "SoftDeleteMixin",
    "TimestampMixin",
    "UUIDMixin",
]


__getattr__ = lazy_exports(__name__, _WHERE, needs=("sqlalchemy", "db"))
