"""Plugwork: the full pipeline (validation, metrics middleware, correlation ids, error mapping)."""

from plugwork import App, action
from plugwork.observability.logging import configure_logging

from .models import GreetIn, GreetOut


@action("greet")
async def greet(input: GreetIn) -> GreetOut:
    return GreetOut(message=f"Hello, {input.name}!")


app = App("bench", actions=[greet])
app.configure(queue_url="none", plugboard_url="", log_level="WARNING")
configure_logging(level="WARNING")
asgi = app.asgi
