"""The orders service: CRUD on PostgreSQL (or SQLite), writes behind JWT permissions, and a confirmation
job enqueued in the same transaction as the order it confirms.

Run it (see examples/orders/README.md)::

    export PLUGWORK_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/orders
    export PLUGWORK_QUEUE_URL=$PLUGWORK_DATABASE_URL PLUGWORK_JWT_SECRET=$(openssl rand -hex 32)
    plugwork db upgrade && plugwork run orders.service:app
"""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, Field

from plugwork import App, Context, action, get_logger
from plugwork.auth import AuthPlugin
from plugwork.db import Database, DatabasePlugin, Repository

from .models import Order

log = get_logger(__name__)


class OrderIn(BaseModel):
    item: str = Field(min_length=1, max_length=200)
    quantity: int = Field(1, ge=1, le=1000)


class OrderRef(BaseModel):
    id: uuid.UUID


class OrderPage(BaseModel):
    limit: int = Field(20, ge=1, le=100)
    offset: int = Field(0, ge=0)


class OrderOut(BaseModel):
    id: uuid.UUID
    customer: str
    item: str
    quantity: int
    confirmed: bool
    created_at: datetime

    @classmethod
    def of(cls, order: Order) -> OrderOut:
        return cls(
            id=order.id,
            customer=order.customer,
            item=order.item,
            quantity=order.quantity,
            confirmed=order.confirmed,
            created_at=order.created_at,
        )


def orders(db: Database) -> Repository[Order]:
    return Repository(db, Order)


@action("create_order", permissions=["orders:write"], tags=["orders"])
async def create_order(input: OrderIn, ctx: Context, db: Database, app: App) -> OrderOut:
    """Place an order; its confirmation job exists if and only if the order is committed."""
    assert ctx.auth is not None  # the auth plugin let the caller in with orders:write
    async with db.transaction() as session:
        order = (
            await orders(db)
            .using(session)
            .create(customer=ctx.auth["sub"], item=input.item, quantity=input.quantity)
        )
        await app.enqueue("send_confirmation", {"id": str(order.id)}, session=session)
    return OrderOut.of(order)


@action("get_order", permissions=["orders:read"], tags=["orders"])
async def get_order(input: OrderRef, db: Database) -> OrderOut:
    """One order (404 NOT_FOUND when there is none, or it was cancelled)."""
    return OrderOut.of(await orders(db).get(input.id))


@action("list_orders", permissions=["orders:read"], tags=["orders"])
async def list_orders(input: OrderPage, db: Database) -> list[OrderOut]:
    """Orders, newest first."""
    found = await orders(db).get_all(limit=input.limit, offset=input.offset, order_by="-created_at")
    return [OrderOut.of(order) for order in found]


@action("cancel_order", permissions=["orders:write"], tags=["orders"])
async def cancel_order(input: OrderRef, db: Database) -> OrderOut:
    """Cancel (soft-delete) an order; it disappears from reads, and stays in the table."""
    return OrderOut.of(await orders(db).soft_delete(input.id))


@action("count_orders", public=True, tags=["orders"])
def count_orders(input: OrderPage, db: Database) -> dict[str, int]:
    """How many open orders there are: public, and a sync action on the sync session."""
    from sqlalchemy import func, select

    with db.sync_session() as session:
        return {"open": session.scalar(select(func.count()).where(Order.is_deleted.is_(False))) or 0}


@action("send_confirmation", transports=["queue"], max_attempts=5)
async def send_confirmation(input: OrderRef, ctx: Context, db: Database) -> dict[str, str]:
    """A job only: mark the order confirmed (a real service would e-mail the customer here)."""
    await orders(db).update(input.id, confirmed=True)
    log.info("order confirmed", order=str(input.id), by=(ctx.auth or {}).get("sub"))
    return {"confirmed": str(input.id)}


app = App("orders", actions=[__name__], plugins=[DatabasePlugin(), AuthPlugin()])
