"""The orders example's model: a UUID key, database-set timestamps, soft delete."""

from __future__ import annotations

from sqlalchemy import Boolean, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column

from plugwork.db import Base, SoftDeleteMixin, TimestampMixin, UUIDMixin


class Order(UUIDMixin, TimestampMixin, SoftDeleteMixin, Base):
    """One order. ``confirmed`` is set by the ``send_confirmation`` job."""

    __tablename__ = "orders"

    customer: Mapped[str] = mapped_column(String(256), index=True)
    item: Mapped[str] = mapped_column(String(200))
    quantity: Mapped[int] = mapped_column(Integer)
    confirmed: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
