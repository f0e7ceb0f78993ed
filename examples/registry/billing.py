"""The registry example's ``billing`` service: run several instances, call them from ``shop``.

Each instance registers itself, heartbeats and answers with its own instance id, so that a caller can
see how its calls spread. From this folder::

    PLUGWORK_REGISTRY_URL=sqlite:///../../.plugwork/registry.db plugwork run billing:app --port 8001
    PLUGWORK_REGISTRY_URL=sqlite:///../../.plugwork/registry.db plugwork run billing:app --port 8002
    plugwork registry list --url sqlite:///../../.plugwork/registry.db
"""

from __future__ import annotations

import uuid

from pydantic import BaseModel, Field

from plugwork import App, action
from plugwork.registry import Registry


class QuoteIn(BaseModel):
    amount: float = Field(gt=0, le=1_000_000)
    currency: str = Field("EUR", min_length=3, max_length=3)


class QuoteOut(BaseModel):
    total: float
    currency: str
    instance: str


class ChargeIn(QuoteIn):
    customer: str = Field(min_length=1, max_length=100)


class ChargeOut(BaseModel):
    charge_id: str
    instance: str


@action("quote", description="The price with fees: idempotent, so callers may fail over freely")
async def quote(input: QuoteIn, registry: Registry) -> QuoteOut:
    return QuoteOut(
        total=round(input.amount * 1.02, 2), currency=input.currency, instance=registry.instance_id or ""
    )


@action("charge", description="Charge a customer (not idempotent)", queue="billing")
async def charge(input: ChargeIn, registry: Registry) -> ChargeOut:
    return ChargeOut(charge_id=uuid.uuid4().hex, instance=registry.instance_id or "")


app = App("billing", actions=[quote, charge], config_file="billing.yaml")
