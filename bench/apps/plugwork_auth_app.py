"""Plugwork with the auth plugin: the same greet action as plugwork_app, behind an HS256 permission."""

import os

from plugwork import App, action
from plugwork.auth import AuthPlugin
from plugwork.observability.logging import configure_logging

from .models import GreetIn, GreetOut

SECRET = os.environ.get("BENCH_JWT_SECRET", "bench-secret-0123456789abcdef0123456789")


@action("greet", permissions=["greet"])
async def greet(input: GreetIn) -> GreetOut:
    return GreetOut(message=f"Hello, {input.name}!")


app = App("bench", actions=[greet], plugins=[AuthPlugin(jwt_secret=SECRET)])
app.configure(queue_url="none", plugboard_url="", log_level="WARNING")
configure_logging(level="WARNING")
asgi = app.asgi
