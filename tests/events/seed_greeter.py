"""The PyModules seed's Quick Start, verbatim but for the import lines (pymodules -> plugwork.events)."""

from dataclasses import dataclass

from plugwork.events import Event, EventInput, EventOutput, Module, module


@dataclass
class GreetInput(EventInput):
    name: str = "World"


@dataclass
class GreetOutput(EventOutput):
    message: str = ""


class GreetEvent(Event[GreetInput, GreetOutput]):
    name = "myapp.greet"


@module(name="Greeter", description="Handles greeting events")
class GreeterModule(Module):
    def can_handle(self, event: Event) -> bool:
        return isinstance(event, GreetEvent)

    def handle(self, event: Event) -> None:
        if isinstance(event, GreetEvent):
            event.output = GreetOutput(message=f"Hello, {event.input.name}!")
            event.handled = True


async def fetch_user(name: str):  # the seed's async sample awaits a user lookup of its own
    class User:
        display_name = name.title()

    return User()


@module(name="AsyncGreeter")
class AsyncGreeterModule(Module):
    def can_handle(self, event: Event) -> bool:
        return isinstance(event, GreetEvent)

    async def handle(self, event: Event) -> None:
        if isinstance(event, GreetEvent):
            # Async operations work natively
            user = await fetch_user(event.input.name)
            event.output = GreetOutput(message=f"Hello, {user.display_name}!")
            event.handled = True
