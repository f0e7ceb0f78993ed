"""The registry example's ``shop`` service: calls ``billing`` through the registry.

PLUGWORK_REGISTRY_URL=sqlite:///../../.plugwork/registry.db plugwork run shop:app --port 8000
curl -X POST localhost:8000/actions/checkout -d '{"amount": 10, "customer": "ada"}'
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from plugwork import App, action
from plugwork.registry import Registry


class CheckoutIn(BaseModel):
    amount: float = Field(gt=0, le=1_000_000)
    customer: str = Field(min_length=1, max_length=100)


class CheckoutOut(BaseModel):
    total: float
    charge_id: str
    quoted_by: str
    charged_by: str


@action("checkout", description="Quote, then charge, on whichever billing instances are up")
async def checkout(input: CheckoutIn, registry: Registry) -> CheckoutOut:
    billing = registry.remote("billing")
    quote = await billing.call("quote", {"amount": input.amount}, idempotent=True)
    charge = await billing.call("charge", {"amount": quote["total"], "customer": input.customer})
    return CheckoutOut(
        total=quote["total"],
        charge_id=charge["charge_id"],
        quoted_by=quote["instance"],
        charged_by=charge["instance"],
    )


app = App("shop", actions=[checkout], config_file="shop.yaml")
