"""The producer API ``POST /``: round trips through consumers and every error status."""

from __future__ import annotations

import asyncio
import json
from importlib.util import find_spec
from pathlib import Path

import httpx
import pytest
import websockets
from hub_helpers import (
    WS_IMPLEMENTATIONS,
    Credentials,
    RunningHub,
    V1Consumer,
    fast_settings,
    make_credentials,
    produce,
    running_hub,
)
from websockets.exceptions import InvalidStatus


async def test_round_trip_through_a_v1_consumer(
    hub: RunningHub, creds: Credentials, client: httpx.AsyncClient
) -> None:
    async with V1Consumer.connect(hub.ws_url(creds.token)) as consumer:
        await consumer.join()
        call = asyncio.create_task(
            produce(
                client,
                creds.account_token,
                {"service_id": creds.service_id, "action": "Echo", "fields": {"text": "hi"}},
            )
        )
        request = await consumer.answer_one(201, "made")
        assert request["topic"] == "service" and request["ref"] is None
        assert request["payload"]["action"] == "Echo" and request["payload"]["fields"] == {"text": "hi"}
        assert len(request["payload"]["response_ref"]) == 36  # a uuid4
        response = await call
    assert response.status_code == 201
    assert response.json() == {"status_code": 201, "message": "made", "fields": {"echo": {"text": "hi"}}}


# uvicorn's legacy "websockets" implementation (and websockets' legacy module) say they are deprecated
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.filterwarnings("ignore:The `websockets` implementation is deprecated")
@pytest.mark.parametrize(
    "ws",
    [
        pytest.param(
            ws, marks=pytest.mark.skipif(find_spec(ws.split("-")[0]) is None, reason=f"{ws} is not installed")
        )
        for ws in WS_IMPLEMENTATIONS
    ],
)
async def test_every_websocket_implementation_serves_consumers(tmp_path: Path, ws: str) -> None:
    """The default protocol settles responses on its direct path (the rest through the ASGI receive queue),
    the others all through the queue: producers, heartbeats and malformed responses get the same answers."""
    async with running_hub(fast_settings(tmp_path), ws=ws) as hub:
        creds = await make_credentials(hub.hub)
        async with (
            httpx.AsyncClient(base_url=hub.url, timeout=10) as client,
            V1Consumer.connect(hub.ws_url(creds.token)) as consumer,
        ):
            await consumer.join()
            for text in ("one", "two"):
                body = {"service_id": creds.service_id, "action": "Echo", "fields": {"text": text}}
                call = asyncio.create_task(produce(client, creds.account_token, body))
                await consumer.answer_one(200, text)
                assert (await call).json() == {
                    "status_code": 200,
                    "message": text,
                    "fields": {"echo": {"text": text}},
                }
            ref = await consumer.send("phoenix", "heartbeat", {})
            heartbeat = await consumer.recv_event("phx_reply")
            assert heartbeat["ref"] == ref and heartbeat["payload"]["status"] == "ok"
            body = {"service_id": creds.service_id, "action": "Echo", "fields": {}}
            call = asyncio.create_task(produce(client, creds.account_token, body))
            request = await consumer.recv_event("request")
            await consumer.send(
                "service", "response", {"status_code": "ok"}, ref=request["payload"]["response_ref"]
            )
            assert (await consumer.recv_event("phx_reply"))["payload"]["status"] == "error"
            assert (await call).status_code == 502


async def test_consumer_error_status_reaches_the_producer(
    hub: RunningHub, creds: Credentials, client: httpx.AsyncClient
) -> None:
    async with V1Consumer.connect(hub.ws_url(creds.token)) as consumer:
        await consumer.join()
        call = asyncio.create_task(
            produce(
                client, creds.account_token, {"service_id": creds.service_id, "action": "Nope", "fields": {}}
            )
        )
        request = await consumer.recv_event("request")
        body = {"status_code": 404, "message": "Unknown action: Nope", "fields": {}}
        await consumer.send("service", "response", body, ref=request["payload"]["response_ref"])
        response = await call
    assert response.status_code == 404
    assert response.json() == body


async def test_malformed_consumer_response_gives_502_not_a_hang(
    hub: RunningHub, creds: Credentials, client: httpx.AsyncClient
) -> None:
    async with V1Consumer.connect(hub.ws_url(creds.token)) as consumer:
        await consumer.join()
        call = asyncio.create_task(
            produce(client, creds.account_token, {"service_id": creds.service_id, "action": "A"})
        )
        request = await consumer.recv_event("request")
        # Plugboard's real consumer sends "status"; this hub wants "status_code"
        await consumer.send("service", "response", {"status": 200}, ref=request["payload"]["response_ref"])
        reply = await consumer.recv_event("phx_reply")
        assert reply["payload"]["status"] == "error"
        response = await call
    assert response.status_code == 502 and "malformed" in response.json()["message"]


async def test_round_robin_over_consumers(
    hub: RunningHub, creds: Credentials, client: httpx.AsyncClient
) -> None:
    async with (
        V1Consumer.connect(hub.ws_url(creds.token)) as one,
        V1Consumer.connect(hub.ws_url(creds.token)) as two,
    ):
        await one.join()
        await two.join()
        body = {"service_id": creds.service_id, "action": "Echo", "fields": {}}
        for _ in range(2):
            for consumer in (one, two):
                call = asyncio.create_task(produce(client, creds.account_token, body))
                await consumer.answer_one()
                assert (await call).status_code == 200


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ({}, "account token is required"),
        ({"Authorization": "Bearer wrong"}, "invalid"),
        ({"Authorization": "Basic x"}, "required"),
    ],
)
async def test_401_without_a_valid_account_token(
    hub: RunningHub, creds: Credentials, client: httpx.AsyncClient, headers: dict[str, str], message: str
) -> None:
    response = await client.post("/", json={"service_id": creds.service_id, "action": "A"}, headers=headers)
    assert response.status_code == 401
    assert response.json()["status_code"] == 401 and message in response.json()["message"]


async def test_deleted_account_is_refused(
    hub: RunningHub, creds: Credentials, client: httpx.AsyncClient
) -> None:
    body = {"service_id": creds.service_id, "action": "A"}
    assert (await produce(client, creds.account_token, body)).status_code == 422  # authenticated (and cached)
    [account] = await hub.hub.store.list_accounts()
    await hub.hub.store.delete_account(account.id)
    async with asyncio.timeout(5):
        while (await produce(client, creds.account_token, body)).status_code != 401:
            await asyncio.sleep(0.02)


async def test_404_unknown_service(hub: RunningHub, creds: Credentials, client: httpx.AsyncClient) -> None:
    response = await produce(client, creds.account_token, {"service_id": "no-such", "action": "A"})
    assert response.status_code == 404 and "no-such" in response.json()["message"]


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"{nope", "not valid JSON"),
        (b"[1]", "JSON object"),
        (b'{"action": "A"}', "service_id"),
        (b'{"service_id": "x"}', "action"),
        (b'{"service_id": "x", "action": 5}', "action"),
        (b'{"service_id": "x", "action": "A", "fields": [1]}', "fields"),
    ],
)
async def test_400_malformed_body(
    hub: RunningHub, creds: Credentials, client: httpx.AsyncClient, raw: bytes, message: str
) -> None:
    response = await produce(client, creds.account_token, None, raw=raw)
    assert response.status_code == 400 and message in response.json()["message"]


async def test_413_body_too_large(tmp_path: Path) -> None:
    async with running_hub(fast_settings(tmp_path, max_body_bytes=1000)) as running:
        creds = await make_credentials(running.hub)
        async with httpx.AsyncClient(base_url=running.url) as client:
            body = {"service_id": creds.service_id, "action": "A", "fields": {"pad": "x" * 2000}}
            response = await produce(client, creds.account_token, body)
            assert response.status_code == 413
            # chunked, so without a content-length: caught while reading

            async def chunks():  # type: ignore[no-untyped-def]
                for _ in range(5):
                    yield json.dumps(body).encode()[:500]

            headers = {"Authorization": f"Bearer {creds.account_token}"}
            response = await client.post("/", content=chunks(), headers=headers)
            assert response.status_code == 413


async def test_422_no_consumer(hub: RunningHub, creds: Credentials, client: httpx.AsyncClient) -> None:
    response = await produce(client, creds.account_token, {"service_id": creds.service_id, "action": "A"})
    assert response.status_code == 422 and "no consumer" in response.json()["message"]


async def test_408_when_the_consumer_does_not_answer(tmp_path: Path) -> None:
    async with running_hub(fast_settings(tmp_path, request_timeout=0.3)) as running:
        creds = await make_credentials(running.hub)
        async with (
            V1Consumer.connect(running.ws_url(creds.token)) as consumer,
            httpx.AsyncClient(base_url=running.url) as client,
        ):
            await consumer.join()
            response = await produce(
                client, creds.account_token, {"service_id": creds.service_id, "action": "A"}
            )
            assert response.status_code == 408
            # a late answer is ignored, and the consumer's slot is free again
            request = await consumer.recv_event("request")
            late = {"status_code": 200, "message": None, "fields": {}}
            await consumer.send("service", "response", late, ref=request["payload"]["response_ref"])
            call = asyncio.create_task(
                produce(client, creds.account_token, {"service_id": creds.service_id, "action": "B"})
            )
            assert (await consumer.answer_one())["payload"]["action"] == "B"
            assert (await call).status_code == 200


async def test_503_at_once_when_the_consumer_dies_mid_request(
    hub: RunningHub, creds: Credentials, client: httpx.AsyncClient
) -> None:
    consumer_cm = V1Consumer.connect(hub.ws_url(creds.token))
    consumer = await consumer_cm.__aenter__()
    await consumer.join()
    body = {"service_id": creds.service_id, "action": "Slow"}
    calls = [asyncio.create_task(produce(client, creds.account_token, body)) for _ in range(3)]
    for _ in range(3):
        await consumer.recv_event("request")
    consumer.ws.transport.abort()  # killed: no close handshake
    async with asyncio.timeout(30):  # only a bound: waiting for the 5 s request timeout would give 408
        responses = await asyncio.gather(*calls)
    assert [r.status_code for r in responses] == [503, 503, 503]
    assert "disconnected" in responses[0].json()["message"]
    await consumer_cm.__aexit__(None, None, None)


async def test_bounded_outstanding_and_queue(tmp_path: Path) -> None:
    settings = fast_settings(tmp_path, max_outstanding=1, max_queued=1)
    async with running_hub(settings) as running:
        creds = await make_credentials(running.hub)
        async with (
            V1Consumer.connect(running.ws_url(creds.token)) as consumer,
            httpx.AsyncClient(base_url=running.url) as client,
        ):
            await consumer.join()
            body = {"service_id": creds.service_id, "action": "A"}
            first = asyncio.create_task(produce(client, creds.account_token, body))
            request = await consumer.recv_event("request")
            queued = asyncio.create_task(produce(client, creds.account_token, body))
            async with asyncio.timeout(5):
                while not running.hub.router._pools[creds.service_id].waiters:
                    await asyncio.sleep(0.01)
            overflow = await produce(client, creds.account_token, body)
            assert overflow.status_code == 503 and "queue is full" in overflow.json()["message"]
            # one outstanding request at a time: the queued one is sent only after the first is answered
            reply = {"status_code": 200, "message": None, "fields": {}}
            await consumer.send("service", "response", reply, ref=request["payload"]["response_ref"])
            assert (await first).status_code == 200
            await consumer.answer_one()
            assert (await queued).status_code == 200


async def test_queued_request_expires(tmp_path: Path) -> None:
    settings = fast_settings(tmp_path, max_outstanding=1, queue_max_age=0.2)
    async with running_hub(settings) as running:
        creds = await make_credentials(running.hub)
        async with (
            V1Consumer.connect(running.ws_url(creds.token)) as consumer,
            httpx.AsyncClient(base_url=running.url) as client,
        ):
            await consumer.join()
            body = {"service_id": creds.service_id, "action": "A"}
            first = asyncio.create_task(produce(client, creds.account_token, body))
            await consumer.recv_event("request")
            response = await produce(client, creds.account_token, body)
            assert response.status_code == 408 and "free" in response.json()["message"]
            first.cancel()


async def test_health_and_metrics(hub: RunningHub, creds: Credentials, client: httpx.AsyncClient) -> None:
    async with V1Consumer.connect(hub.ws_url(creds.token)) as consumer:
        await consumer.join()
        call = asyncio.create_task(
            produce(client, creds.account_token, {"service_id": creds.service_id, "action": "A"})
        )
        await consumer.answer_one()
        assert (await call).status_code == 200
        await produce(client, "bad", {"service_id": creds.service_id, "action": "A"})
        health = await client.get("/health")
        assert health.status_code == 200
        checks = health.json()["checks"]
        assert checks["store"]["status"] == "GREEN" and checks["consumers"]["details"]["connected"] == 1
        metrics = (await client.get("/metrics")).text
    assert "plugboard_hub_consumers_connected 1.0" in metrics
    assert 'plugboard_hub_requests_total{outcome="answered"} 1.0' in metrics
    assert 'plugboard_hub_requests_total{outcome="unauthorized"} 1.0' in metrics
    assert "plugboard_hub_round_trip_seconds_count 1.0" in metrics


async def test_health_is_red_when_the_store_is_gone(hub: RunningHub, client: httpx.AsyncClient) -> None:
    ready = await client.get("/health/ready")
    assert ready.status_code == 200 and set(ready.json()["checks"]) == {"store", "backplane"}
    await hub.hub.store.close()
    health = await client.get("/health")
    assert health.status_code == 503 and health.json()["checks"]["store"]["status"] == "RED"
    ready = await client.get("/health/ready")  # the probes' forms: not ready, but alive (no restart)
    assert ready.status_code == 503 and ready.json()["checks"]["store"]["status"] == "RED"
    assert (await client.get("/health/live")).json() == {"status": "alive"}
    await hub.hub.store.open()


async def test_a_consumer_cannot_answer_another_consumers_request(
    hub: RunningHub, creds: Credentials, client: httpx.AsyncClient
) -> None:
    other = await make_credentials(hub.hub, "other")
    async with (
        V1Consumer.connect(hub.ws_url(creds.token)) as owner,
        V1Consumer.connect(hub.ws_url(other.token)) as intruder,
    ):
        await owner.join()
        await intruder.join()
        call = asyncio.create_task(
            produce(client, creds.account_token, {"service_id": creds.service_id, "action": "A"})
        )
        request = await owner.recv_event("request")
        ref = request["payload"]["response_ref"]
        forged = {"status_code": 200, "message": "forged", "fields": {}}
        await intruder.send("service", "response", forged, ref=ref)
        await intruder.send("phoenix", "heartbeat", {})
        await intruder.recv_event("phx_reply")  # the forged response has been handled by now
        assert not call.done()
        await owner.send(
            "service", "response", {"status_code": 200, "message": "real", "fields": {}}, ref=ref
        )
        assert (await call).json()["message"] == "real"


async def test_503_and_refusal_when_the_store_fails(
    hub: RunningHub, creds: Credentials, client: httpx.AsyncClient
) -> None:
    await hub.hub.store.close()
    try:
        response = await produce(client, creds.account_token, {"service_id": creds.service_id, "action": "A"})
        assert response.status_code == 503 and "store" in response.json()["message"]
        with pytest.raises(InvalidStatus) as info:
            async with websockets.connect(hub.ws_url(creds.token)):
                pass
        assert info.value.response.status_code == 503
    finally:
        await hub.hub.store.open()
