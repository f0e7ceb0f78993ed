"""Plugwork's consumer against Plugwork's own hub, end to end: producer -> hub -> consumer -> producer.

The hub runs in-process under uvicorn with a SQLite store in a temporary directory; the consumer connects
over a real socket exactly as it would to a Vera Plugboard.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from consumer_fixtures import Gate, build
from pydantic import BaseModel

from plugwork import App, Context, action
from plugwork.actions import Action
from plugwork.dispatch import Dispatcher
from plugwork.plugboard.consumer import PlugboardConsumer
from plugwork.plugboard.hub.core import Hub, HubSettings
from plugwork.plugboard.hub.server import create_app, uvicorn_options
from plugwork.plugboard.plugin import PlugboardPlugin
from plugwork.testing import TestClient

FAST: dict[str, Any] = {"reconnect_min": 0.01, "reconnect_max": 0.05, "connect_timeout": 5.0}


@dataclass
class Deployment:
    """A running hub, a service with a token, and a producer's HTTP client."""

    hub: Hub
    ws_url: str
    http: httpx.AsyncClient
    service_id: str
    token: str
    token_id: str

    async def call(self, action: str, fields: Any) -> httpx.Response:
        return await self.http.post(
            "/", json={"service_id": self.service_id, "action": action, "fields": fields}
        )


@contextlib.asynccontextmanager
async def deployment(tmp_path: Path, **hub_settings: Any) -> AsyncIterator[Deployment]:
    settings = HubSettings(
        store_url=f"sqlite:///{tmp_path}/hub.db", request_timeout=5.0, event_poll_interval=0.02
    )
    for key, value in hub_settings.items():
        setattr(settings, key, value)
    app = create_app(settings)
    # IPPROTO_TCP, not the default proto 0: asyncio sets TCP_NODELAY only on sockets whose proto says TCP,
    # and without it Nagle's algorithm adds ~40 ms to every HTTP response.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    # The uvicorn options of `plugwork hub`: the consumers meet the hub that production runs.
    server = uvicorn.Server(
        uvicorn.Config(app, log_level="warning", lifespan="on", **uvicorn_options(settings))
    )
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        async with asyncio.timeout(10):
            while not server.started:
                if task.done():
                    task.result()
                await asyncio.sleep(0.01)
        hub: Hub = app.state.hub
        account = await hub.store.create_account("producer")
        service = await hub.store.create_service("billing")
        token = await hub.store.create_token(service.id)
        assert account.token and token.value
        headers = {"Authorization": f"Bearer {account.token}"}
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}", headers=headers, timeout=10
        ) as http:
            yield Deployment(hub, f"ws://127.0.0.1:{port}/websocket", http, service.id, token.value, token.id)
    finally:
        server.should_exit = True
        async with asyncio.timeout(10):
            await task
        sock.close()


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[Deployment]:
    async with deployment(tmp_path) as running:
        yield running


@pytest.fixture
def gate() -> Gate:
    return Gate()


@pytest.fixture
def app(gate: Gate) -> tuple[dict[str, Action], Dispatcher]:
    return build(gate)


def make(env: Deployment, app: tuple[dict[str, Action], Dispatcher], **options: Any) -> PlugboardConsumer:
    actions, dispatcher = app
    token = options.pop("token", env.token)
    return PlugboardConsumer(env.ws_url, token, dispatcher, actions, **{**FAST, **options})


@contextlib.asynccontextmanager
async def serving(consumer: PlugboardConsumer) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(consumer.run())
    try:
        yield task
    finally:
        await consumer.stop()
        await asyncio.wait_for(task, 10)


async def until(predicate: Any, timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.005)


def green(consumer: PlugboardConsumer) -> bool:
    return consumer.health()[0] == "GREEN"


@pytest.mark.parametrize("vsn", ["1.0.0", "2.0.0"])
async def test_producer_calls_reach_the_consumer_and_come_back(env, app, vsn):
    consumer = make(env, app, vsn=vsn)
    async with serving(consumer):
        await until(lambda: green(consumer))
        ok = await env.call("add", {"a": 40, "b": 2})
        assert (ok.status_code, ok.json()) == (
            200,
            {"status_code": 200, "message": None, "fields": {"result": 42}},
        )
        echo = (await env.call("echo", {"text": "hi", "times": 3})).json()
        assert echo["fields"]["text"] == "hihihi"
        assert echo["fields"]["transport"] == "plugboard"
        unknown = await env.call("nope", {})
        assert (unknown.status_code, unknown.json()["message"]) == (404, "Unknown action: nope")
        invalid = await env.call("echo", {"times": 2})
        assert invalid.status_code == 400
        assert [e["field"] for e in invalid.json()["fields"]["errors"]] == ["text"]
        broken = await env.call("boom", {})
        assert (broken.status_code, broken.json()["message"]) == (500, "Internal server error")
        denied = await env.call("forbidden", {})
        assert (denied.status_code, denied.json()["fields"]) == (403, {"role": "guest"})


async def test_the_consumer_keeps_what_the_hub_tells_it(env, app):
    consumer = make(env, app)
    async with serving(consumer):
        await until(lambda: green(consumer))
        details = consumer.health()[1]
        assert details["service"]["id"] == env.service_id
        assert details["service"]["name"] == "billing"
        assert details["token"]["id"] == env.token_id
        assert details["num_consumers"] == 1
        await env.hub.store.update_service(env.service_id, "billing-v2")
        await until(lambda: consumer.health()[1]["service"]["name"] == "billing-v2")
        second = make(env, app)
        async with serving(second):
            await until(lambda: consumer.health()[1]["num_consumers"] == 2)
        await until(lambda: consumer.health()[1]["num_consumers"] == 1)
        rotated = await env.hub.store.create_token(env.service_id)
        await until(lambda: consumer.health()[1]["token"]["id"] == rotated.id)
        assert rotated.value is not None
        assert rotated.value in consumer.connect_url  # used from the next connection on
        assert rotated.value not in repr(consumer.health())


async def test_requests_are_shared_between_two_consumers(env, app, gate):
    first, second = make(env, app), make(env, app)
    async with serving(first), serving(second):
        await until(lambda: green(first) and green(second) and first.health()[1]["num_consumers"] == 2)
        answers = await asyncio.gather(*(env.call("add", {"a": i, "b": 0}) for i in range(8)))
        assert [a.json()["fields"]["result"] for a in answers] == list(range(8))
        assert first.health()[1]["served"] > 0 and second.health()[1]["served"] > 0


async def test_a_bad_token_and_different_actions_are_refused(env, app):
    actions, dispatcher = app
    stranger = make(env, app, token="no-such-token")
    async with serving(stranger):
        await until(lambda: stranger.health()[0] == "RED")
        assert "Service API token is invalid" in stranger.health()[1]["reason"]
    first = make(env, app)
    fewer = {k: v for k, v in actions.items() if k != "boom"}
    odd_one = PlugboardConsumer(env.ws_url, env.token, dispatcher, fewer, **FAST)
    async with serving(first):
        await until(lambda: green(first))
        async with serving(odd_one):
            await until(lambda: odd_one.health()[0] == "RED")
            assert "do not match" in odd_one.health()[1]["reason"]


async def test_graceful_stop_answers_the_request_in_flight(env, app, gate):
    consumer = make(env, app, drain_timeout=5)
    task = asyncio.create_task(consumer.run())
    await until(lambda: green(consumer))
    call = asyncio.create_task(env.call("slow", {"tag": "last"}))
    await until(lambda: gate.started == 1)
    stopping = asyncio.create_task(consumer.stop())
    await until(lambda: consumer.health()[1]["stopping"])
    gate.release.set()
    answer = await asyncio.wait_for(call, 5)
    assert (answer.status_code, answer.json()["fields"]) == (200, {"tag": "last"})
    await asyncio.wait_for(stopping, 5)
    await asyncio.wait_for(task, 5)
    gone = await env.call("add", {"a": 1, "b": 1})
    assert gone.status_code == 422  # the consumer left: the service has no consumer now


async def test_the_consumer_reconnects_after_the_hub_drops_it(env, app):
    consumer = make(env, app)
    async with serving(consumer):
        await until(lambda: green(consumer))
        for sock in list(env.hub.connections):
            await sock.close(1011, "test drops the socket")
        await until(lambda: consumer.health()[1]["reconnects"] >= 1 and green(consumer))
        assert (await env.call("add", {"a": 1, "b": 2})).json()["fields"] == {"result": 3}


async def test_deleting_the_service_stops_the_consumer_red(env, app):
    consumer = make(env, app)
    task = asyncio.create_task(consumer.run())
    await until(lambda: green(consumer))
    await env.hub.store.delete_service(env.service_id)
    await asyncio.wait_for(task, 5)
    status, details = consumer.health()
    assert status == "RED"
    assert "billing" in details["reason"] and "deleted" in details["reason"]


async def test_a_consumer_losing_its_socket_mid_request_fails_that_request_fast(env, app, gate):
    consumer = make(env, app)
    async with serving(consumer):
        await until(lambda: green(consumer))
        call = asyncio.create_task(env.call("slow", {"tag": "cut"}))
        await until(lambda: gate.started == 1)
        for sock in list(env.hub.connections):
            await sock.close(1011, "test drops the socket")
        answer = await asyncio.wait_for(call, 5)  # well before the hub's 5 s request timeout
        assert answer.status_code == 503
        await until(lambda: consumer.health()[1]["reconnects"] >= 1 and green(consumer))
        gate.release.set()  # the handler finishes after all; its answer has nowhere to go
        await until(lambda: consumer.health()[1]["dropped_responses"] == 1)
        assert (await env.call("slow", {"tag": "next"})).json()["fields"] == {"tag": "next"}


async def test_heartbeats_keep_an_idle_consumer_connected(tmp_path, app):
    async with deployment(tmp_path, idle_timeout=0.4) as env:
        beating = make(env, app, heartbeat_interval=0.02)
        silent = make(env, app, heartbeat_interval=60.0)
        async with serving(beating), serving(silent):
            await until(lambda: green(beating) and green(silent))
            # 40 heartbeats take longer than the hub's idle timeout: the silent one is dropped meanwhile
            await until(lambda: beating.health()[1]["heartbeats"] >= 40, timeout=10)
            await until(lambda: silent.health()[1]["reconnects"] >= 1)
            assert beating.health()[1]["reconnects"] == 0


class _Probe(BaseModel):
    pass


@action
async def probe(data: _Probe, ctx: Context) -> dict[str, Any]:
    return {"correlation_id": ctx.correlation_id, "transport": ctx.transport}


async def test_the_producer_correlation_id_reaches_the_consumer_and_comes_back(env):
    # A whole Plugwork app, its Plugboard consumer enabled from settings (the built-in plugin).
    app = App("billing", actions=[probe])
    async with TestClient(app, plugboard_url=env.ws_url, plugboard_token=env.token):
        await until(lambda: app.plugin(PlugboardPlugin).consumer is not None)
        consumer = app.plugin(PlugboardPlugin).consumer
        await until(lambda: green(consumer))
        answer = await env.http.post(
            "/",
            json={"service_id": env.service_id, "action": "probe", "fields": {}},
            headers={"X-Correlation-ID": "producer-1"},
        )
        assert answer.headers["x-correlation-id"] == "producer-1"
        assert answer.json()["fields"] == {"correlation_id": "producer-1", "transport": "plugboard"}
        # Without one, the hub makes one up and the consumer uses it.
        answer = await env.call("probe", {})
        assert answer.json()["fields"]["correlation_id"] == answer.headers["x-correlation-id"]
