"""Declarative ``Base`` with a constraint naming convention, and the UUID, timestamp and soft-delete mixins.

The naming convention gives every index and constraint a stable, predictable name, so that Alembic's
autogenerate can drop and alter them on every backend (SQLite and PostgreSQL alike).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, ClassVar

from ..extras import require

require("sqlalchemy", extra="db")  # a missing extra is one clear line naming it, before the imports below

from sqlalchemy import Boolean, DateTime, MetaData, Uuid, func, text  # noqa: E402
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column  # noqa: E402

NAMING_CONVENTION: dict[str, str] = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """The declarative base for your models; its ``metadata`` is what migrations compare against."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    __soft_delete__: ClassVar[bool] = False
    # Fetch database-set values (server defaults, ``onupdate``) in the INSERT/UPDATE's RETURNING clause,
    # so that reading ``updated_at`` after a flush needs no lazy load (which async sessions cannot do).
    __mapper_args__ = {"eager_defaults": True}

    def to_dict(self) -> dict[str, Any]:
        """The mapped columns' values by attribute name."""
        return {column.key: getattr(self, column.key) for column in self.__mapper__.column_attrs}


class UUIDMixin:
    """A UUID primary key ``id``, generated in Python (``uuid4``) so it is known before the flush."""

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)


class TimestampMixin:
    """``created_at`` and ``updated_at``, set by the database (``CURRENT_TIMESTAMP``), timezone-aware."""

    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now(), nullable=False
    )


class SoftDeleteMixin:
    """``is_deleted``/``deleted_at``; a repository hides soft-deleted rows from its default queries."""

    __soft_delete__: ClassVar[bool] = True

    is_deleted: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=text("false"), nullable=False, index=True
    )
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)

    def soft_delete(self) -> None:
        """Mark the row deleted (saved with the session's next commit)."""
        self.is_deleted = True
        self.deleted_at = datetime.now(UTC)

    def restore(self) -> None:
        """Undo :meth:`soft_delete`."""
        self.is_deleted = False
        self.deleted_at = None
