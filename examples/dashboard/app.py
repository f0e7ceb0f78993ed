"""An app to look at in the dashboard: quick, failing and slow jobs.

Run it from this folder (dev mode: an in-memory queue and an open dashboard on your own machine)::

    PLUGWORK_DASHBOARD=true ../../.venv/bin/plugwork run app:app --dev

then open http://127.0.0.1:8000/dashboard. Outside dev mode the dashboard needs a guard: set
``PLUGWORK_MANAGEMENT_TOKEN`` (and sign in with it) or add the auth plugin (docs/dashboard.md).
"""

from __future__ import annotations

import asyncio
import time

from pydantic import BaseModel, Field

from plugwork import App, Service, action
from plugwork.errors import Unavailable


class GreetIn(BaseModel):
    name: str = Field(min_length=1, max_length=100, description="Who to greet")
    excited: bool = False


@action("greet", description="Say hello")
async def greet(input: GreetIn) -> dict[str, str]:
    return {"message": f"Hello, {input.name}{'!' if input.excited else '.'}"}


class FragileIn(BaseModel):
    fail_until: float = Field(0, description="Epoch seconds before which the job fails")


@action("fragile", description="Fails until a given time: retry it from the dashboard afterwards")
async def fragile(input: FragileIn) -> dict[str, str]:
    if time.time() < input.fail_until:
        raise Unavailable(f"the upstream is down until {input.fail_until:.0f}")
    return {"status": "recovered"}


class SlowIn(BaseModel):
    seconds: float = Field(5, ge=0, le=60)


@action("slow", description="Sleeps, to be seen processing")
async def slow(input: SlowIn) -> dict[str, float]:
    await asyncio.sleep(input.seconds)
    return {"slept": input.seconds}


class Mailer(Service):
    """A long-lived dependency to start and stop from the services tab (with the management API on)."""

    async def start(self) -> None:
        return None


app = App("dashboard-demo", actions=[greet, fragile, slow], services=[Mailer])
