"""Handshakes the hub used to mishandle: over-long ones (no answer at all), large actions maps, refusals
logged as errors by uvicorn."""

from __future__ import annotations

import asyncio
import json
import logging
import urllib.parse
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import websockets
from hub_helpers import Credentials, RunningHub, V1Consumer, produce
from pydantic import BaseModel, Field
from websockets.exceptions import InvalidStatus

from plugwork.actions import Action, action, bind, spec_from_function
from plugwork.dispatch import Dispatcher
from plugwork.errors import DependencyError
from plugwork.plugboard.consumer import MAX_URL_BYTES, PlugboardConsumer
from plugwork.plugboard.hub.sockets import ACTIONS_MISMATCH, INVALID_TOKEN


def big_actions(count: int = 150, tag: str = "") -> dict[str, Any]:
    """An actions map far over a URL's 8 KiB once encoded."""
    return {
        f"Action{i:03d}{tag}": {
            "description": f"action number {i}, described at some length",
            "fields": {"value": {"type": "string", "description": "the value this action works on"}},
        }
        for i in range(count)
    }


async def status_and_body(url: str, **kwargs: Any) -> tuple[int, str]:
    with pytest.raises(InvalidStatus) as info:
        async with websockets.connect(url, open_timeout=10, **kwargs):
            pass
    response = info.value.response
    return response.status_code, response.body.decode()


async def test_overlong_request_line_is_answered_414_with_a_reason(
    hub: RunningHub, creds: Credentials
) -> None:
    url = hub.ws_url(creds.token, actions=big_actions())
    assert len(url) > 8192
    status, body = await status_and_body(url)  # before: no answer, the client waited for its timeout
    assert status == 414
    assert "phx_join" in body and creds.token not in body


async def test_oversized_headers_are_answered_431(hub: RunningHub, creds: Credentials) -> None:
    headers = {"X-Padding": "x" * 10_000}
    status, body = await status_and_body(hub.ws_url(creds.token), additional_headers=headers)
    assert status == 431 and "header" in body


@pytest.fixture
def uvicorn_errors() -> Iterator[list[logging.LogRecord]]:
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    handler = Keep(logging.ERROR)
    logger = logging.getLogger("uvicorn.error")
    logger.addHandler(handler)
    try:
        yield records
    finally:
        logger.removeHandler(handler)


async def test_a_refused_consumer_is_not_logged_as_an_error(
    hub: RunningHub, creds: Credentials, uvicorn_errors: list[logging.LogRecord]
) -> None:
    for _ in range(3):
        assert await status_and_body(hub.ws_url("not-a-token")) == (403, INVALID_TOKEN)
    await asyncio.sleep(0.1)  # the ASGI task ends after the denial has been written
    assert [r.getMessage() for r in uvicorn_errors] == []


async def test_actions_in_the_join_payload(
    hub: RunningHub, creds: Credentials, client: httpx.AsyncClient
) -> None:
    actions = big_actions()
    async with V1Consumer.connect(hub.ws_url(creds.token, actions=None), max_size=None) as first:
        ref = await first.send("service", "phx_join", {"actions": actions})
        reply = await first.recv_event("phx_reply")
        assert reply["ref"] == ref and reply["payload"]["status"] == "ok", reply
        [socket] = hub.hub.sockets.values()
        assert json.loads(socket.actions or "") == actions

        # Another map, in the join payload or in the URL, is refused; the same map (any key order) is not.
        other = {"Other": {"description": "", "fields": {}}}
        async with V1Consumer.connect(hub.ws_url(creds.token, actions=None)) as second:
            await second.send("service", "phx_join", {"actions": other})
            refused = await second.recv_event("phx_reply")
            assert refused["payload"] == {"status": "error", "response": {"reason": ACTIONS_MISMATCH}}
            reordered = dict(reversed(list(actions.items())))
            await second.send("service", "phx_join", {"actions": reordered})
            assert (await second.recv_event("phx_reply"))["payload"]["status"] == "ok"
        assert await status_and_body(hub.ws_url(creds.token, actions=other)) == (403, ACTIONS_MISMATCH)

        body = {"service_id": creds.service_id, "action": "Action001", "fields": {"value": "v"}}
        answering = asyncio.create_task(first.answer_one())
        response = await produce(client, creds.account_token, body)
        await answering
        assert response.status_code == 200 and response.json()["fields"] == {"echo": {"value": "v"}}


async def test_join_payload_actions_are_checked(hub: RunningHub, creds: Credentials) -> None:
    small = {"Echo": {"description": "", "fields": {}}}
    cases = [
        ({"actions": [1]}, None, "actions must be a JSON object"),
        ({"actions": {"Other": {}}}, small, "differ from the actions in the URL"),
        ({"actions": big_actions(3000)}, None, "actions exceeds"),
    ]
    for payload, in_url, reason in cases:
        async with V1Consumer.connect(hub.ws_url(creds.token, actions=in_url), max_size=None) as consumer:
            await consumer.send("service", "phx_join", payload)
            reply = await consumer.recv_event("phx_reply")
            assert reply["payload"]["status"] == "error" and reason in reply["payload"]["response"]["reason"]
    assert not hub.hub.sockets


class Value(BaseModel):
    value: str = Field(description="the value this action works on, described at length for the map's sake")


def many_actions(count: int) -> dict[str, Action]:
    def make(i: int) -> Action:
        async def handler(inp: Value) -> dict[str, str]:
            return {"action": f"act_{i:03d}", "value": inp.value}

        handler.__name__ = f"act_{i:03d}"
        return spec_from_function(action(description=f"action number {i}, described at some length")(handler))

    return {spec.name: spec for spec in map(make, range(count))}


def dispatcher_for(specs: dict[str, Action]) -> Dispatcher:
    def resolve(hint: Any) -> Any:
        raise DependencyError(f"nothing to inject for {hint!r}")

    return Dispatcher.build(specs, {name: bind(spec, resolve) for name, spec in specs.items()})


@pytest.mark.parametrize("vsn", ["1.0.0", "2.0.0"])
async def test_plugwork_consumer_with_a_large_actions_map_connects(
    hub: RunningHub, creds: Credentials, client: httpx.AsyncClient, vsn: str
) -> None:
    specs = many_actions(120)
    consumer = PlugboardConsumer(
        f"ws://127.0.0.1:{hub.port}/websocket", creds.token, dispatcher_for(specs), specs, vsn=vsn
    )
    assert len(consumer.connect_url) <= MAX_URL_BYTES
    assert "actions=" not in consumer.connect_url and consumer.join_payload()["actions"]
    task = asyncio.create_task(consumer.run())
    try:
        async with asyncio.timeout(10):
            while consumer.health()[0] != "GREEN":
                await asyncio.sleep(0.02)
        body = {"service_id": creds.service_id, "action": "act_042", "fields": {"value": "x"}}
        response = await produce(client, creds.account_token, body)
        assert response.status_code == 200, response.text
        assert response.json()["fields"] == {"action": "act_042", "value": "x"}
    finally:
        await consumer.stop()
        await task


def test_a_small_map_stays_in_the_url() -> None:
    specs = many_actions(2)
    consumer = PlugboardConsumer("ws://hub:4000/websocket", "t0ken", dispatcher_for(specs), specs)
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(consumer.connect_url).query)
    assert set(json.loads(query["actions"][0])) == {"act_000", "act_001"}
    assert consumer.join_payload() == {}
