"""Deleting a token, a service or an account ends the sockets and producer access that depended on it."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest
from hub_helpers import (
    Credentials,
    RunningHub,
    V1Consumer,
    fast_settings,
    make_credentials,
    produce,
    running_hub,
)
from websockets.exceptions import ConnectionClosed

from plugwork.plugboard.hub.revocation import REVOKED_CLOSE_CODE, TOKEN_DELETED, TOKEN_INVALID

BOUND = 10.0  # seconds: a bound on waiting for the socket to close, not a speed claim


async def closed(consumer: V1Consumer) -> tuple[int | None, str]:
    """Read until the hub closes the socket; its close code and reason."""
    async with asyncio.timeout(BOUND):
        try:
            while True:
                await consumer.ws.recv()
        except ConnectionClosed as exc:
            assert exc.rcvd is not None
            return exc.rcvd.code, exc.rcvd.reason


async def test_deleting_a_token_closes_its_sockets_only(hub: RunningHub, creds: Credentials) -> None:
    other = await hub.hub.store.create_token(creds.service_id)
    assert other.value
    async with (
        V1Consumer.connect(hub.ws_url(creds.token)) as doomed,
        V1Consumer.connect(hub.ws_url(other.value)) as survivor,
        V1Consumer.connect(hub.ws_url(creds.token)) as not_joined,
    ):
        await doomed.join()
        await survivor.join()
        await hub.hub.store.delete_token(creds.token_id)  # as the CLI would: the event comes from the store
        pushed = await doomed.recv_event("token_deleted")
        assert pushed["payload"]["token"]["id"] == creds.token_id
        assert await closed(doomed) == (REVOKED_CLOSE_CODE, TOKEN_DELETED)
        assert await closed(not_joined) == (REVOKED_CLOSE_CODE, TOKEN_DELETED)
        await survivor.recv_event("token_deleted")
        ref = await survivor.send("phoenix", "heartbeat", {})
        assert (await survivor.recv_event("phx_reply"))["ref"] == ref  # still served
    assert hub.hub.router.count(creds.service_id) == 0


async def test_deleting_a_service_closes_even_sockets_that_have_not_joined(
    hub: RunningHub, creds: Credentials
) -> None:
    async with V1Consumer.connect(hub.ws_url(creds.token)) as consumer:
        await asyncio.sleep(0.05)  # accepted, never joined
        await hub.hub.store.delete_service(creds.service_id)
        code, _ = await closed(consumer)
        assert code == 1000  # service_deleted closes normally, as it always did for joined sockets


async def test_a_token_deleted_during_the_handshake_ends_the_socket_at_once(
    hub: RunningHub, creds: Credentials, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = hub.hub.actions_conflict

    async def deleted_meanwhile(service_id: str, actions: str) -> bool:
        # The token passed authentication; its deletion's event arrives before the socket is accepted.
        token = await hub.hub.store.delete_token(creds.token_id)
        hub.hub.apply_event({"kind": "token_deleted", "token": token.to_json()})
        return await real(service_id, actions)

    monkeypatch.setattr(hub.hub, "actions_conflict", deleted_meanwhile)
    async with V1Consumer.connect(hub.ws_url(creds.token)) as consumer:
        assert await closed(consumer) == (REVOKED_CLOSE_CODE, TOKEN_DELETED)


async def test_revalidation_catches_deletions_whose_event_was_lost(tmp_path: Path) -> None:
    settings = fast_settings(tmp_path, revalidate_interval=0.05, event_poll_interval=3600.0)
    async with running_hub(settings) as hub, httpx.AsyncClient(base_url=hub.url, timeout=10) as client:
        creds: Credentials = await make_credentials(hub.hub)
        body: dict[str, Any] = {"service_id": creds.service_id, "action": "A"}
        assert (await produce(client, creds.account_token, body)).status_code == 422  # cached for 10 s
        expiring = await hub.hub.store.create_token(creds.service_id)
        assert expiring.value
        async with (
            V1Consumer.connect(hub.ws_url(creds.token)) as consumer,
            V1Consumer.connect(hub.ws_url(expiring.value)) as expired,
        ):
            await consumer.join()
            async with hub.hub.store.transaction() as conn:  # behind the hub's back: no event at all
                await conn.execute("DELETE FROM plugboard_tokens WHERE id = $1", creds.token_id)
                await conn.execute(
                    "UPDATE plugboard_tokens SET expires_at = $1 WHERE id = $2",
                    "2000-01-01T00:00:00Z",
                    expiring.id,
                )
                await conn.execute("DELETE FROM plugboard_accounts")
            assert await closed(consumer) == (REVOKED_CLOSE_CODE, TOKEN_INVALID)
            assert await closed(expired) == (REVOKED_CLOSE_CODE, TOKEN_INVALID)
        async with asyncio.timeout(BOUND):
            while (await produce(client, creds.account_token, body)).status_code != 401:
                await asyncio.sleep(0.02)
