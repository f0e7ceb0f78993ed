"""End to end: a Plugwork app consuming through the Plugwork hub, with V1 (the default) and V2."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from hub_helpers import Credentials, RunningHub, produce
from pydantic import BaseModel

from plugwork import App, action


class Greeting(BaseModel):
    name: str
    times: int = 1


class Greeted(BaseModel):
    text: str


@action(name="Greet", description="Say hello")
async def greet(data: Greeting) -> Greeted:
    return Greeted(text=" ".join([f"hello {data.name}"] * data.times))


@pytest.mark.parametrize("vsn", ["1.0.0", "2.0.0"])
async def test_plugwork_app_answers_producers_through_the_hub(
    hub: RunningHub, creds: Credentials, client: httpx.AsyncClient, vsn: str
) -> None:
    app = App("greeter", actions=[greet])
    app.configure(
        plugboard_url=f"ws://127.0.0.1:{hub.port}/websocket",
        plugboard_token=creds.token,
        plugboard_protocol=vsn,
        queue_url="none",
    )
    async with app:
        async with asyncio.timeout(10):
            while hub.hub.router.count(creds.service_id) == 0:
                await asyncio.sleep(0.02)
        [socket] = hub.hub.sockets.values()
        assert socket.serializer.vsn == vsn
        assert "Greet" in socket.actions  # the app's actions map, as the connect parameter
        body = {"service_id": creds.service_id, "action": "Greet", "fields": {"name": "Vera", "times": 2}}
        response = await produce(client, creds.account_token, body)
        assert response.status_code == 200, response.text
        assert response.json()["fields"] == {"text": "hello Vera hello Vera"}

        unknown = await produce(client, creds.account_token, {**body, "action": "Nope"})
        assert unknown.status_code == 404 and "Nope" in unknown.json()["message"]
        invalid = await produce(client, creds.account_token, {**body, "fields": {"times": "x"}})
        assert invalid.status_code == 400
    # stopping the app leaves the channel: the hub stops routing to it
    async with asyncio.timeout(5):
        while hub.hub.router.count(creds.service_id):
            await asyncio.sleep(0.02)
    response = await produce(client, creds.account_token, body)
    assert response.status_code == 422
