"""Two hub processes (real uvicorn subprocesses) on one PostgreSQL store act as one hub."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass

import asyncpg
import httpx
import pytest
from hub_helpers import ACTIONS, V1Consumer, free_socket, produce

from plugwork.plugboard.hub import open_store

pytestmark = pytest.mark.postgres
ADMIN = "scale-admin"


@dataclass
class HubProcess:
    process: subprocess.Popen[bytes]
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def ws_url(self, token: str) -> str:
        import json
        import urllib.parse

        query = urllib.parse.urlencode({"token": token, "actions": json.dumps(ACTIONS)})
        return f"ws://127.0.0.1:{self.port}/websocket?{query}"


@contextmanager
def hub_process(store_url: str) -> Iterator[HubProcess]:
    sock = free_socket()
    port = sock.getsockname()[1]
    sock.close()
    command = [
        sys.executable, "-m", "plugwork.plugboard.hub.cli",
        "--port", str(port), "--store", store_url, "--admin-token", ADMIN,
        "--heartbeat-interval", "0.2", "--dead-after", "1.0", "--request-timeout", "10",
        "--log-level", "warning",
    ]  # fmt: skip
    process = subprocess.Popen(command, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        yield HubProcess(process, port)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)


async def wait_healthy(client: httpx.AsyncClient, hub: HubProcess) -> None:
    async with asyncio.timeout(20):
        while True:
            assert hub.process.poll() is None, "the hub process exited"
            try:
                if (await client.get(f"{hub.url}/health")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.05)


@asynccontextmanager
async def answering(consumer: V1Consumer) -> AsyncIterator[None]:
    """Answer every request (echoing its fields) in the background."""

    async def loop() -> None:
        while True:
            await consumer.answer_one(timeout=60)

    task = asyncio.create_task(loop())
    try:
        yield
    finally:
        task.cancel()


async def call_until_routed(
    client: httpx.AsyncClient, hub: HubProcess, token: str, body: object
) -> httpx.Response:
    """POST until the hub knows a consumer (it hears of joins on other hubs asynchronously)."""
    async with asyncio.timeout(10):
        while True:
            response = await produce(client, token, body, base=hub.url)
            if response.status_code != 422:
                return response
            await asyncio.sleep(0.05)


async def test_request_to_hub_a_is_answered_by_a_consumer_on_hub_b(postgres_url: str) -> None:
    async with open_store(postgres_url) as store:
        account = await store.create_account("producer")
        service = await store.create_service("svc")
        token = await store.create_token(service.id)
    assert account.token and token.value
    with hub_process(postgres_url) as hub_a, hub_process(postgres_url) as hub_b:
        async with httpx.AsyncClient(timeout=15) as client:
            await wait_healthy(client, hub_a)
            await wait_healthy(client, hub_b)
            async with V1Consumer.connect(hub_b.ws_url(token.value)) as consumer:
                await consumer.join()
                async with answering(consumer):
                    body = {"service_id": service.id, "action": "Echo", "fields": {"text": "via B"}}
                    response = await call_until_routed(client, hub_a, account.token, body)
                    assert response.status_code == 200
                    assert response.json()["fields"] == {"echo": {"text": "via B"}}
                    # over NOTIFY's 8000-byte limit: through a payload row, both ways
                    big = {"service_id": service.id, "action": "Echo", "fields": {"text": "x" * 20000}}
                    response = await produce(client, account.token, big, base=hub_a.url)
                    assert (
                        response.status_code == 200
                        and response.json()["fields"]["echo"]["text"] == "x" * 20000
                    )
                # a change made through hub A's admin API reaches the consumer on hub B
                admin = {"Authorization": f"Bearer {ADMIN}"}
                created = await client.post(
                    f"{hub_a.url}/admin/tokens", json={"service_id": service.id}, headers=admin
                )
                pushed = await consumer.recv_event(
                    "token_created", where=lambda p: p["token"]["id"] == created.json()["id"]
                )
                assert pushed["payload"]["token"]["value"] == created.json()["value"]
                # a consumer joining on hub A changes the count seen on hub B
                async with V1Consumer.connect(hub_a.ws_url(token.value)) as other:
                    assert (await other.join())["payload"]["response"]["num_consumers"] == 2
                    await consumer.recv_event("num_consumers", where=lambda p: p["num_consumers"] == 2)
                # the consumer on B dies with a request from A in flight: A's producer gets 503 at once
                call = asyncio.create_task(produce(client, account.token, body, base=hub_a.url))
                await consumer.recv_event("request")
                consumer.ws.transport.abort()
                async with asyncio.timeout(30):  # a bound; waiting for the 10 s timeout would give 408
                    response = await call
                assert response.status_code == 503


async def test_a_dead_hubs_consumers_are_cleaned(postgres_url: str) -> None:
    async with open_store(postgres_url) as store:
        account = await store.create_account("producer")
        service = await store.create_service("svc")
        token = await store.create_token(service.id)
    assert account.token and token.value
    with hub_process(postgres_url) as hub_a, hub_process(postgres_url) as hub_b:
        async with httpx.AsyncClient(timeout=15) as client:
            await wait_healthy(client, hub_a)
            await wait_healthy(client, hub_b)
            async with V1Consumer.connect(hub_b.ws_url(token.value)) as consumer:
                await consumer.join()
                body = {"service_id": service.id, "action": "Echo", "fields": {}}
                async with answering(consumer):
                    assert (await call_until_routed(client, hub_a, account.token, body)).status_code == 200
                hub_b.process.kill()  # no clean shutdown: only the heartbeat can tell
                hub_b.process.wait(timeout=5)
                async with asyncio.timeout(10):
                    while (await produce(client, account.token, body, base=hub_a.url)).status_code != 422:
                        await asyncio.sleep(0.1)
            conn = await asyncpg.connect(postgres_url)
            try:
                assert await conn.fetchval("SELECT count(*) FROM plugboard_consumers") == 0
                assert await conn.fetchval("SELECT count(*) FROM plugboard_hubs") == 1
            finally:
                await conn.close()


async def test_deletions_made_on_hub_a_end_access_on_hub_b(postgres_url: str) -> None:
    from websockets.exceptions import ConnectionClosed

    async with open_store(postgres_url) as store:
        account = await store.create_account("producer")
        service = await store.create_service("svc")
        token = await store.create_token(service.id)
    assert account.token and token.value
    admin = {"Authorization": f"Bearer {ADMIN}"}
    with hub_process(postgres_url) as hub_a, hub_process(postgres_url) as hub_b:
        async with httpx.AsyncClient(timeout=15) as client:
            await wait_healthy(client, hub_a)
            await wait_healthy(client, hub_b)
            body = {"service_id": service.id, "action": "Echo", "fields": {}}
            async with V1Consumer.connect(hub_b.ws_url(token.value)) as consumer:
                await consumer.join()
                async with answering(consumer):  # hub B has authenticated (and cached) the producer
                    assert (await call_until_routed(client, hub_b, account.token, body)).status_code == 200
                deleted = await client.delete(f"{hub_a.url}/admin/tokens/{token.id}", headers=admin)
                assert deleted.status_code == 200
                with pytest.raises(ConnectionClosed) as info:
                    async with asyncio.timeout(10):  # a bound, not a speed claim
                        while True:
                            await consumer.ws.recv()
                assert info.value.rcvd is not None and info.value.rcvd.code == 1008
            deleted = await client.delete(f"{hub_a.url}/admin/accounts/{account.id}", headers=admin)
            assert deleted.status_code == 200
            async with asyncio.timeout(10):
                while (await produce(client, account.token, body, base=hub_b.url)).status_code != 401:
                    await asyncio.sleep(0.05)
