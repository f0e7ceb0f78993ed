"""The greeter example: a function action, a class action and a service injected by type.

Run it from the repository root with ``make run``, then::

    curl -X POST localhost:8000/actions/greet -d '{"name": "World"}'
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from plugwork import ActionResponse, ActionRunner, App, Context, Service, action, get_logger

log = get_logger(__name__)


class GreeterConfig(BaseModel):
    """The ``services.greeter`` section of plugwork.yaml."""

    greeting: str = "Hello"
    punctuation: str = "!"


class Greeter(Service):
    """A long-lived dependency with a lifecycle: configured from plugwork.yaml, started with the app."""

    config_model = GreeterConfig
    config: GreeterConfig

    async def start(self) -> None:
        log.info("greeter ready", greeting=self.config.greeting)

    def greet(self, name: str) -> str:
        return f"{self.config.greeting}, {name}{self.config.punctuation}"


class GreetIn(BaseModel):
    name: str = Field(min_length=1, max_length=100, description="Who to greet")


class GreetOut(BaseModel):
    message: str


@action("greet", description="Say hello")
async def greet(input: GreetIn, greeter: Greeter) -> GreetOut:
    log.info("greeting", name=input.name)
    return GreetOut(message=greeter.greet(input.name))


class ShoutIn(BaseModel):
    text: str


@action("shout", description="Upper-case a text (a sync action: runs off the event loop)")
def shout(input: ShoutIn) -> dict[str, str]:
    return {"text": input.text.upper()}


class Repeat(ActionRunner):
    """Repeat a text — the Vera-Py-Service class style."""

    text: str = Field(description="Text to repeat")
    times: int = Field(2, ge=1, le=100, description="How many times")

    @classmethod
    def description(cls) -> str:
        return "Repeat a text a number of times"

    async def run(self, ctx: Context) -> ActionResponse:
        return ActionResponse(
            status_code=200,
            message=f"repeated for {ctx.correlation_id}",
            fields={"result": self.text * self.times},
        )


app = App("greeter", actions=[__name__])
