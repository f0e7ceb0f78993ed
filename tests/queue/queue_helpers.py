"""Helpers shared by the queue tests (a uniquely named module: tests/ has no packages)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from pydantic import BaseModel

from plugwork.actions import Action, bind
from plugwork.context import Context
from plugwork.dispatch import Dispatcher
from plugwork.errors import DependencyError
from plugwork.queue.store import JobStore


class Empty(BaseModel):
    pass


class Name(BaseModel):
    name: str = "World"


def make_action(
    name: str,
    handler: Callable[..., Awaitable[Any]],
    input_model: type[BaseModel] = Name,
    *,
    with_context: bool = False,
    **options: Any,
) -> Action:
    """An Action built directly (no decorator), ``handler(data)`` or ``handler(data, ctx)``."""
    deps: dict[str, Any] = {"ctx": Context} if with_context else {}
    return Action(
        name=name, handler=handler, input_model=input_model, input_param="data", dependencies=deps, **options
    )


def make_dispatcher(*actions: Action) -> Dispatcher:
    """A Dispatcher over ``actions`` with nothing injectable but the Context."""

    def resolve(tp: Any) -> Any:
        raise DependencyError(f"nothing to inject for {tp!r}")

    specs = {a.name: a for a in actions}
    return Dispatcher.build(specs, {n: bind(s, resolve) for n, s in specs.items()})


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = 10.0) -> None:
    """Poll ``check`` until it is true; fail after ``timeout`` seconds (a bound, not a speed claim)."""
    async with asyncio.timeout(timeout):
        while not await check():
            await asyncio.sleep(0.01)


@contextlib.asynccontextmanager
async def running(worker: Any) -> AsyncIterator[Any]:
    """Run ``worker`` in a task for the block; stop it gracefully after."""
    task = asyncio.create_task(worker.run())
    try:
        yield worker
    finally:
        await asyncio.wait_for(worker.stop(), 30)
        await asyncio.wait_for(task, 30)


async def wait_status(store: Any, job_id: str, *statuses: str, timeout: float = 10.0) -> Any:
    """Wait until the job reaches one of ``statuses``; return it."""
    found: list[Any] = []

    async def check() -> bool:
        job = await store.get(job_id)
        found[:] = [job]
        return job is not None and job.status.value in statuses

    try:
        await eventually(check, timeout)
    except TimeoutError:
        raise AssertionError(f"job {job_id} never reached {statuses}: {found}") from None
    return found[0]


async def beat(store: JobStore, worker_id: str, dead_after: float) -> None:
    """One heartbeat of ``worker_id``, written as the worker's thread writes it (off the event loop)."""

    def write() -> None:
        session = store.heartbeat_session()
        try:
            session.beat(worker_id, dead_after)
        finally:
            session.close()

    await asyncio.to_thread(write)
