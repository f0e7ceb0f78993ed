"""An app with one action per HTTP outcome, shared by the HTTP tests."""

from __future__ import annotations

import asyncio
from typing import Any

from pydantic import BaseModel, Field

from plugwork import ActionResponse, ActionRunner, App, Context, Forbidden, Service, action, get_logger

MAX_BODY = 1024
log = get_logger("tests.http")


class GreetIn(BaseModel):
    name: str = Field(min_length=1, max_length=100)


class GreetOut(BaseModel):
    message: str


class Greeter(Service):
    def greet(self, name: str) -> str:
        return f"Hello, {name}!"


@action("greet", description="Say hello\n\nLonger text.", tags=["greetings"])
async def greet(input: GreetIn, greeter: Greeter) -> GreetOut:
    log.info("greeting", who=input.name)
    return GreetOut(message=greeter.greet(input.name))


class Options(BaseModel):
    verbose: bool = False


@action("defaults")
async def defaults(input: Options) -> dict[str, bool]:
    return {"verbose": input.verbose}


@action("slow", timeout=0.01)
async def slow(input: Options) -> dict[str, bool]:
    await asyncio.Event().wait()  # never set: runs until cancelled by the timeout
    return {}


@action("crash")
async def crash(input: Options) -> dict[str, bool]:
    raise ValueError("password=hunter2 in /srv/app/secret.py")


@action("forbidden")
async def forbidden(input: Options) -> dict[str, bool]:
    raise Forbidden("not for you", details={"role": "guest"})


@action("echo")
async def echo(input: Options, ctx: Context) -> dict[str, Any]:
    return {"correlation_id": ctx.correlation_id, "transport": ctx.transport}


class Create(ActionRunner):
    """Create something (class style)."""

    action_name = "create"
    title: str

    async def run(self, ctx: Context) -> ActionResponse:
        if self.title == "taken":
            return ActionResponse(status_code=409, message="already exists", fields={"title": self.title})
        return ActionResponse(status_code=201, message="created", fields={"id": 7, "title": self.title})


ACTIONS = [greet, defaults, slow, crash, forbidden, echo, Create]


def make_app() -> App:
    return App("http-test", actions=ACTIONS)
