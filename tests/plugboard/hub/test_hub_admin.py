"""The admin API, the CLI, and the pushes their changes cause on connected consumers."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
from click.testing import CliRunner
from hub_helpers import ADMIN_TOKEN, Credentials, RunningHub, V1Consumer, fast_settings, running_hub

from plugwork.plugboard.hub import open_store
from plugwork.plugboard.hub.cli import hub as hub_cli

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


async def test_admin_api_needs_the_admin_token(hub: RunningHub, client: httpx.AsyncClient) -> None:
    assert (await client.get("/admin/services")).status_code == 401
    assert (await client.get("/admin/services", headers={"Authorization": "Bearer nope"})).status_code == 401
    assert (await client.get("/admin/services", headers=ADMIN)).status_code == 200


async def test_admin_api_is_off_without_an_admin_token(tmp_path: Path) -> None:
    settings = fast_settings(tmp_path, admin_token=None)
    async with running_hub(settings) as running, httpx.AsyncClient(base_url=running.url) as client:
        response = await client.get("/admin/services", headers={"Authorization": "Bearer anything"})
        assert response.status_code == 403


async def test_admin_api_crud(hub: RunningHub, client: httpx.AsyncClient) -> None:
    created = await client.post("/admin/accounts", json={"name": "acme"}, headers=ADMIN)
    assert created.status_code == 201 and created.json()["token"]
    listed = (await client.get("/admin/accounts", headers=ADMIN)).json()
    assert [a["name"] for a in listed] == ["acme"] and "token" not in listed[0]
    service = (await client.post("/admin/services", json={"name": "billing"}, headers=ADMIN)).json()
    renamed = await client.patch(f"/admin/services/{service['id']}", json={"name": "invoices"}, headers=ADMIN)
    assert renamed.json()["name"] == "invoices"
    token = await client.post(
        "/admin/tokens", json={"service_id": service["id"], "validity_days": 2}, headers=ADMIN
    )
    assert token.status_code == 201 and token.json()["value"] and token.json()["context"] == "api"
    tokens = (await client.get("/admin/tokens", params={"service_id": service["id"]}, headers=ADMIN)).json()
    assert [t["id"] for t in tokens] == [token.json()["id"]] and "value" not in tokens[0]
    assert (await client.delete(f"/admin/tokens/{token.json()['id']}", headers=ADMIN)).status_code == 200
    assert (await client.delete(f"/admin/tokens/{token.json()['id']}", headers=ADMIN)).status_code == 404
    assert (await client.post("/admin/tokens", json={"service_id": "nope"}, headers=ADMIN)).status_code == 404
    assert (await client.post("/admin/services", json={"name": ""}, headers=ADMIN)).status_code == 400
    assert (await client.post("/admin/services", content=b"{x", headers=ADMIN)).status_code == 400
    assert (await client.delete(f"/admin/accounts/{created.json()['id']}", headers=ADMIN)).status_code == 200
    assert (await client.delete(f"/admin/services/{service['id']}", headers=ADMIN)).status_code == 200


async def test_secrets_are_stored_hashed(hub: RunningHub, creds: Credentials) -> None:
    async with hub.hub.store.transaction() as conn:
        rows = [dict(r) for r in await conn.fetch("SELECT * FROM plugboard_tokens")]
        rows += [dict(r) for r in await conn.fetch("SELECT * FROM plugboard_accounts")]
    dump = json.dumps(rows)
    assert creds.token not in dump and creds.account_token not in dump


async def test_admin_changes_are_pushed_to_consumers(
    hub: RunningHub, creds: Credentials, client: httpx.AsyncClient
) -> None:
    async with V1Consumer.connect(hub.ws_url(creds.token)) as consumer:
        await consumer.join()
        assert (await consumer.recv_event("num_consumers"))["payload"] == {"num_consumers": 1}
        async with V1Consumer.connect(hub.ws_url(creds.token)) as second:
            await second.join()
            assert (await consumer.recv_event("num_consumers"))["payload"] == {"num_consumers": 2}
        assert (await consumer.recv_event("num_consumers"))["payload"] == {"num_consumers": 1}

        token = (
            await client.post("/admin/tokens", json={"service_id": creds.service_id}, headers=ADMIN)
        ).json()
        pushed = await consumer.recv_event("token_created", where=lambda p: p["token"]["id"] == token["id"])
        assert pushed["payload"]["token"] == token and pushed["payload"]["token"]["value"]
        await client.delete(f"/admin/tokens/{token['id']}", headers=ADMIN)
        pushed = await consumer.recv_event("token_deleted")
        assert pushed["payload"]["token"]["id"] == token["id"] and "value" not in pushed["payload"]["token"]
        await client.patch(f"/admin/services/{creds.service_id}", json={"name": "renamed"}, headers=ADMIN)
        pushed = await consumer.recv_event("service_updated")
        assert pushed["payload"]["service"]["name"] == "renamed"
        await client.delete(f"/admin/services/{creds.service_id}", headers=ADMIN)
        pushed = await consumer.recv_event("service_deleted")
        assert pushed["payload"]["service"]["id"] == creds.service_id
        await consumer.ws.wait_closed()
    assert hub.hub.router.count(creds.service_id) == 0


async def test_cli_changes_reach_a_running_hub(hub: RunningHub, creds: Credentials) -> None:
    store_url = hub.hub.store.url
    runner = CliRunner()
    async with V1Consumer.connect(hub.ws_url(creds.token)) as consumer:
        await consumer.join()
        result = await asyncio.to_thread(
            runner.invoke, hub_cli, ["token", "create", creds.service_id, "--store", store_url, "--json"]
        )
        assert result.exit_code == 0, result.output
        created = json.loads(result.output)
        # (the fixture's own token_created may be polled after the join: skip it)
        pushed = await consumer.recv_event("token_created", where=lambda p: p["token"]["id"] == created["id"])
        assert pushed["payload"]["token"] == created
        result = await asyncio.to_thread(
            runner.invoke, hub_cli, ["service", "update", creds.service_id, "new-name", "--store", store_url]
        )
        assert result.exit_code == 0, result.output
        assert (await consumer.recv_event("service_updated"))["payload"]["service"]["name"] == "new-name"


def test_cli_manages_accounts_services_tokens(tmp_path: Path) -> None:
    store = ["--store", f"sqlite:///{tmp_path}/cli.db", "--json"]
    runner = CliRunner()

    def run(*args: str) -> object:
        result = runner.invoke(hub_cli, [*args, *store])
        assert result.exit_code == 0, result.output
        return json.loads(result.output)

    account = run("account", "create", "acme")
    assert isinstance(account, dict) and account["token"] and account["name"] == "acme"
    accounts = run("account", "list")
    assert isinstance(accounts, list) and "token" not in accounts[0]
    service = run("service", "create", "billing")
    assert isinstance(service, dict)
    token = run("token", "create", service["id"], "--days", "7")
    assert isinstance(token, dict) and token["value"] and token["service_id"] == service["id"]
    assert token["expires_at"] > token["inserted_at"]
    tokens = run("token", "list", "--service", service["id"])
    assert (
        isinstance(tokens, list) and [t["id"] for t in tokens] == [token["id"]] and "value" not in tokens[0]
    )
    run("token", "delete", token["id"])
    assert run("token", "list") == []
    run("service", "delete", service["id"])
    assert run("service", "list") == []
    run("account", "delete", account["id"])
    assert run("account", "list") == []
    missing = runner.invoke(hub_cli, ["token", "create", "nope", *store])
    assert missing.exit_code != 0 and "no service" in missing.output
    plain = runner.invoke(hub_cli, ["service", "create", "svc", "--store", f"sqlite:///{tmp_path}/cli.db"])
    assert plain.exit_code == 0 and "svc" in plain.output


async def test_store_secret_lookup_and_schema_version(tmp_path: Path) -> None:
    async with open_store(f"sqlite:///{tmp_path}/s.db") as store:
        assert await store.schema_version() == 1
        account = await store.create_account("a")
        assert account.token and await store.authenticate_account(account.token) is not None
        assert await store.authenticate_account(account.token + "x") is None
    async with open_store(f"sqlite:///{tmp_path}/s.db") as store:  # reopening migrates nothing twice
        assert await store.schema_version() == 1 and len(await store.list_accounts()) == 1
