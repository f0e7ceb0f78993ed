"""An event type served through a Plugboard hub like any action: producer -> hub -> consumer -> module."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "plugboard"))

from seed_greeter import GreeterModule, GreetEvent
from test_consumer_hub_e2e import deployment, green, serving, until

from core_helpers import OFFLINE
from plugwork import App
from plugwork.events import ModuleHost
from plugwork.plugboard.consumer import PlugboardConsumer


async def test_an_event_served_through_plugboard(tmp_path: Path) -> None:
    host = ModuleHost()
    host.register(GreeterModule())
    host.register_event(GreetEvent)
    app = host.attach(App("greeter"))
    app.configure(**OFFLINE)
    async with deployment(tmp_path) as env, app:
        consumer = PlugboardConsumer(
            env.ws_url, env.token, app.dispatcher, app.actions, reconnect_min=0.01, reconnect_max=0.05
        )
        async with serving(consumer):
            await until(lambda: green(consumer))
            response = await env.call("myapp.greet", {"name": "Hub"})
            assert response.status_code == 200
            assert response.json()["fields"] == {"message": "Hello, Hub!"}
            invalid = await env.call("myapp.greet", {"name": 7})
            assert invalid.json()["status_code"] == 400  # Plugboard answers invalid fields with 400
    assert host.metrics.events_handled == 1
