"""Actions and a dispatcher for the Plugboard consumer tests, built the way an app builds them."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, Field

from plugwork.actions import Action, action, bind, spec_from_function
from plugwork.context import Context
from plugwork.dispatch import Dispatcher
from plugwork.errors import DependencyError, Forbidden


class EchoIn(BaseModel):
    text: str = Field(description="What to echo")
    times: int = Field(1, ge=1, le=10, description="How many times")


class EchoOut(BaseModel):
    text: str
    transport: str
    request_id: str | None


class AddIn(BaseModel):
    a: int
    b: int


class Empty(BaseModel):
    pass


class SlowIn(BaseModel):
    tag: str = ""


@dataclass
class Gate:
    """Lets a test hold ``slow`` handlers and count how many run at once."""

    release: asyncio.Event = field(default_factory=asyncio.Event)
    running: int = 0
    peak: int = 0
    started: int = 0
    finished: list[str] = field(default_factory=list)


def build(gate: Gate) -> tuple[dict[str, Action], Dispatcher]:
    """Five actions (echo, add, boom, forbidden, slow) and their dispatcher."""

    @action(description="Echo the text")
    async def echo(inp: EchoIn, ctx: Context) -> EchoOut:
        return EchoOut(text=inp.text * inp.times, transport=ctx.transport, request_id=ctx.request_id)

    @action(description="Add two integers")
    def add(inp: AddIn) -> int:
        return inp.a + inp.b

    @action
    async def boom(inp: Empty) -> None:
        raise RuntimeError("the handler broke")

    @action
    async def forbidden(inp: Empty) -> None:
        raise Forbidden("not for you", details={"role": "guest"})

    @action
    async def slow(inp: SlowIn) -> dict[str, Any]:
        gate.started += 1
        gate.running += 1
        gate.peak = max(gate.peak, gate.running)
        try:
            await gate.release.wait()
        finally:
            gate.running -= 1
        gate.finished.append(inp.tag)
        return {"tag": inp.tag}

    specs = {s.name: s for s in map(spec_from_function, (echo, add, boom, forbidden, slow))}
    return specs, dispatcher_for(specs)


def dispatcher_for(specs: Mapping[str, Action]) -> Dispatcher:
    def resolve(hint: Any) -> Any:
        raise DependencyError(f"nothing to inject for {hint!r}")

    return Dispatcher.build(specs, {name: bind(spec, resolve) for name, spec in specs.items()})
