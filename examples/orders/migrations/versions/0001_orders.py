"""orders: the orders table

Revision ID: 0001
Revises:
Create Date: 2026-11-29

Generated with `plugwork db revision --autogenerate -m orders`, then made portable by hand: the server
defaults are written as SQL both SQLite and PostgreSQL accept.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "orders",
        sa.Column("customer", sa.String(length=256), nullable=False),
        sa.Column("item", sa.String(length=200), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("confirmed", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("is_deleted", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_orders")),
    )
    op.create_index(op.f("ix_orders_customer"), "orders", ["customer"], unique=False)
    op.create_index(op.f("ix_orders_is_deleted"), "orders", ["is_deleted"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_orders_is_deleted"), table_name="orders")
    op.drop_index(op.f("ix_orders_customer"), table_name="orders")
    op.drop_table("orders")
