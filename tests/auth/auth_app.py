"""An app with the auth plugin, and the tokens its tests use."""

from __future__ import annotations

from typing import Any

from auth_keys import ISSUER, SECRET, hs_token
from pydantic import BaseModel

from plugwork import App, Context, action
from plugwork.auth import AuthPlugin


class OrderIn(BaseModel):
    item: str = "book"


@action("create_order", permissions=["orders:write"])
async def create_order(input: OrderIn, ctx: Context) -> dict[str, Any]:
    assert ctx.auth is not None
    return {"item": input.item, "by": ctx.auth["sub"], "transport": ctx.transport}


@action("list_orders", permissions=["orders:read"])
async def list_orders(input: OrderIn) -> dict[str, Any]:
    return {"orders": []}


@action("whoami")
async def whoami(input: OrderIn, ctx: Context) -> dict[str, Any]:
    return {"sub": None if ctx.auth is None else ctx.auth["sub"]}


@action("ping", public=True)
async def ping(input: OrderIn) -> dict[str, str]:
    return {"pong": input.item}


@action("audit", transports=["queue"])
async def audit(input: OrderIn, ctx: Context) -> dict[str, Any]:
    return {"auth": ctx.auth}


def make_app(**auth_settings: Any) -> App:
    return App(
        "orders",
        actions=[create_order, list_orders, whoami, ping, audit],
        plugins=[AuthPlugin(jwt_secret=SECRET, jwt_issuer=ISSUER, **auth_settings)],
    )


def bearer(*permissions: str, sub: str = "alice") -> dict[str, str]:
    token = hs_token({"sub": sub, "permissions": list(permissions), "iss": ISSUER})
    return {"Authorization": f"Bearer {token}"}
