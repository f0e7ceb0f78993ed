"""Helpers shared by the registry tests."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

_spec = importlib.util.spec_from_file_location(
    "plugwork_tests_root", Path(__file__).parents[1] / "conftest.py"
)
assert _spec is not None and _spec.loader is not None
_root: Any = importlib.util.module_from_spec(_spec)
# tests/conftest.py is importable only by path here: every conftest.py shares the module name "conftest".
_spec.loader.exec_module(_root)

require_server = _root.require_server
POSTGRES_URL: str = _root.POSTGRES_URL


# --- in-process HTTP instances -------------------------------------------------------------------------
import asyncio  # noqa: E402
import socket  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from collections.abc import AsyncIterator  # noqa: E402
from contextlib import asynccontextmanager  # noqa: E402

import uvicorn  # noqa: E402
from pydantic import BaseModel, Field  # noqa: E402

from plugwork import App, Context, action  # noqa: E402
from plugwork.config import Settings  # noqa: E402
from plugwork.errors import Forbidden  # noqa: E402
from plugwork.registry.models import Instance, Transports  # noqa: E402


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class ChargeIn(BaseModel):
    amount: float = Field(gt=0)
    currency: str = Field("EUR", min_length=3, max_length=3)


class ChargeOut(BaseModel):
    id: str
    instance: str
    correlation_id: str


def billing_app(label: str, **settings: object) -> App:
    """A 'billing' service whose answers name the instance that served them."""

    @action("charge", description="Charge an amount", queue="billing")
    async def charge(input: ChargeIn, ctx: Context) -> ChargeOut:
        return ChargeOut(id=uuid.uuid4().hex, instance=label, correlation_id=ctx.correlation_id)

    @action("refuse")
    async def refuse(input: ChargeIn) -> ChargeOut:
        raise Forbidden("not for you", details={"why": "test"})

    @action("slow")
    async def slow(input: ChargeIn) -> ChargeOut:
        await asyncio.sleep(input.amount)
        return ChargeOut(id="slow", instance=label, correlation_id="")

    values: dict[str, object] = {"name": "billing", "queue_url": "none", "version": "1.0.0", **settings}
    return App(actions=[charge, refuse, slow], settings=Settings(**values))  # type: ignore[arg-type]


@asynccontextmanager
async def serving(app: App, port: int | None = None) -> AsyncIterator[str]:
    """Serve ``app`` with uvicorn on this loop; yield its base URL."""
    port = port or free_port()
    config = uvicorn.Config(app.asgi, host="127.0.0.1", port=port, lifespan="on", log_config=None)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    deadline = time.monotonic() + 20
    while not server.started:
        if task.done():
            task.result()
            raise RuntimeError("server exited")
        if time.monotonic() > deadline:
            raise RuntimeError("server did not start")
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 20)


def instance_at(url: str | None, label: str, service: str = "billing", **fields: object) -> Instance:
    """A registry record for an instance served at ``url``."""
    now = time.time()
    values: dict[str, object] = {
        "instance_id": label,
        "service_name": service,
        "service_version": "1.0.0",
        "host": "127.0.0.1",
        "port": int(url.rsplit(":", 1)[1]) if url else 0,
        "transports": Transports(url, ("billing",)),
        "last_heartbeat": now,
        "expires_at": now + 30,
    }
    values.update(fields)
    return Instance(**values)  # type: ignore[arg-type]
