"""The app the tracing end-to-end tests run: in the test process (HTTP, Plugboard) and as a worker process."""

from __future__ import annotations

from pydantic import BaseModel

from plugwork import App
from plugwork.observability.logging import get_logger
from plugwork.observability.tracing_plugin import TracingPlugin
from plugwork.queue.client import JobQueue

log = get_logger("traced_service")


class Order(BaseModel):
    item: str


async def order(body: Order, queue: JobQueue) -> dict[str, str]:
    log.info("order taken", item=body.item)
    job_id = await queue.enqueue("ship", {"item": body.item})
    return {"job_id": job_id}


async def order_many(body: Order, queue: JobQueue) -> dict[str, list[str]]:
    ids = await queue.enqueue_many("ship", [{"item": f"{body.item}-{i}"} for i in range(3)])
    return {"job_ids": ids}


async def ship(body: Order) -> dict[str, str]:
    log.info("shipping", item=body.item)
    return {"shipped": body.item}


async def quote(body: Order) -> dict[str, str]:
    log.info("quoting", item=body.item)
    return {"quote": f"{body.item}: 42"}


def build() -> App:
    """A fresh app (each test owns its own) with the tracing plugin; settings come from the environment."""
    new = App("traced-service", plugins=[TracingPlugin()])
    new.action("order")(order)
    new.action("order_many")(order_many)
    new.action("ship", queue="shipping")(ship)
    new.action("quote")(quote)
    return new


app = build()
