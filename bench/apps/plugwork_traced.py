"""Plugwork with the tracing plugin: on or off as the environment says (OTEL_* variables)."""

from plugwork import App, action
from plugwork.observability.logging import configure_logging
from plugwork.observability.tracing_plugin import TracingPlugin

from .models import GreetIn, GreetOut


@action("greet")
async def greet(input: GreetIn) -> GreetOut:
    return GreetOut(message=f"Hello, {input.name}!")


app = App("bench", actions=[greet], plugins=[TracingPlugin()])
app.configure(queue_url="none", plugboard_url="", log_level="WARNING")
configure_logging(level="WARNING")
asgi = app.asgi
