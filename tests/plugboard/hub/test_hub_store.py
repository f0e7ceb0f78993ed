"""The hub store contract, run against SQLite and PostgreSQL: records, hashed secrets, expiry, events."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from plugwork.errors import NotFound
from plugwork.plugboard.hub import open_store
from plugwork.plugboard.hub.models import hash_secret
from plugwork.plugboard.hub.postgres import PostgresHubStore
from plugwork.plugboard.hub.sqlite import SQLiteHubStore
from plugwork.plugboard.hub.store import HubStore, migrations


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/hub.db"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
async def store(store_url: str) -> AsyncIterator[HubStore]:
    async with open_store(store_url, token_validity_days=2) as opened:
        yield opened


async def events_of(store: HubStore, action: Any) -> list[dict[str, Any]]:
    """The events a store change emits, however the dialect delivers them."""
    if isinstance(store, SQLiteHubStore):
        last = await store.last_event_id()
        await action()
        return [event for _, event in await store.events_after(last)]
    assert isinstance(store, PostgresHubStore)
    received: asyncio.Queue[str] = asyncio.Queue()
    conn = await asyncpg.connect(store.url)
    try:
        await conn.add_listener(store.events_channel, lambda *args: received.put_nowait(args[3]))
        await action()
        await conn.execute("SELECT 1")  # notifications sent before this round trip have arrived
        events = []
        while not received.empty():
            events.append(json.loads(await store.read_payload(received.get_nowait(), consume=False)))
        return events
    finally:
        await conn.close()


async def test_accounts(store: HubStore) -> None:
    account = await store.create_account("acme")
    assert account.token and len(account.token) >= 40
    assert (await store.authenticate_account(account.token)) == (await store.list_accounts())[0]
    assert await store.authenticate_account("x" + account.token) is None
    events = await events_of(store, lambda: store.delete_account(account.id))
    assert events == [{"kind": "account_deleted", "account": {"id": account.id}}]
    assert await store.authenticate_account(account.token) is None
    with pytest.raises(NotFound):
        await store.delete_account(account.id)
    with pytest.raises(ValueError):
        await store.create_account("  ")


async def test_services_and_tokens(store: HubStore) -> None:
    service = await store.create_service("billing")
    assert await store.get_service(service.id) == service
    token = await store.create_token(service.id)
    assert token.value and token.context == "api"
    assert token.expires_at[:10] > token.inserted_at[:10]  # the store's validity: 2 days
    found = await store.authenticate_token(token.value)
    assert found is not None and found.id == token.id and found.value is None
    assert await store.list_tokens(service.id) == [found]
    events = await events_of(store, lambda: store.update_service(service.id, "invoices"))
    assert [e["kind"] for e in events] == ["service_updated"] and events[0]["service"]["name"] == "invoices"
    events = await events_of(store, lambda: store.create_token(service.id, validity_days=1))
    assert [e["kind"] for e in events] == ["token_created"] and events[0]["token"]["value"]
    events = await events_of(store, lambda: store.delete_token(token.id))
    assert events[0]["kind"] == "token_deleted" and "value" not in events[0]["token"]
    events = await events_of(store, lambda: store.delete_service(service.id))
    assert events[0]["kind"] == "service_deleted"
    assert await store.list_tokens() == [] and await store.get_service(service.id) is None
    with pytest.raises(NotFound):
        await store.create_token(service.id)


async def test_expired_tokens_do_not_authenticate(store: HubStore) -> None:
    service = await store.create_service("svc")
    token = await store.create_token(service.id)
    async with store.transaction() as conn:
        await conn.execute("UPDATE plugboard_tokens SET expires_at = $1", "2001-01-01T00:00:00Z")
    assert token.value and await store.authenticate_token(token.value) is None


async def test_only_hashes_are_stored(store: HubStore) -> None:
    account = await store.create_account("a")
    token = await store.create_token((await store.create_service("s")).id)
    async with store.transaction() as conn:
        hashes = [r["token_hash"] for r in await conn.fetch("SELECT token_hash FROM plugboard_accounts")]
        hashes += [r["token_hash"] for r in await conn.fetch("SELECT token_hash FROM plugboard_tokens")]
    assert account.token and token.value
    assert hashes == [hash_secret(account.token), hash_secret(token.value)]


async def test_schema_is_versioned(store: HubStore) -> None:
    assert await store.schema_version() == max(version for version, _ in migrations(store.dialect))


async def test_which_credentials_still_hold(store: HubStore) -> None:
    """What a hub's revalidation asks: tokens that exist and have not expired, accounts that exist."""
    account = await store.create_account("producer")
    service = await store.create_service("svc")
    live, expired = await store.create_token(service.id), await store.create_token(service.id)
    async with store.transaction() as conn:
        await conn.execute(
            "UPDATE plugboard_tokens SET expires_at = $1 WHERE id = $2", "2000-01-01T00:00:00Z", expired.id
        )
    ids = {live.id, expired.id, "no-such-token"} | {f"t{i}" for i in range(1200)}  # over one IN (...) chunk
    assert await store.valid_token_ids(ids) == {live.id}
    assert await store.existing_account_ids({account.id, "gone"}) == {account.id}
    assert await store.valid_token_ids(set()) == set()
