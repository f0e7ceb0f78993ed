"""Per-action permissions on Plugboard requests: the caller's token in the request's ``headers``."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from auth_app import bearer, make_app
from auth_keys import forged_tokens

from plugwork.testing import TestClient

sys.path.insert(0, str(Path(__file__).parent.parent / "plugboard"))
from fake_plugboard import FakePlugboard

FORGED = forged_tokens()


@pytest.fixture
async def hub() -> AsyncIterator[FakePlugboard]:
    async with FakePlugboard() as fake:
        app = make_app()
        async with TestClient(app, plugboard_url=fake.url, plugboard_token="secret-token", worker=False):
            await fake.wait_until(lambda: fake.joins >= 1)
            yield fake


def headers(*permissions: str) -> dict[str, str]:
    return {"authorization": bearer(*permissions)["Authorization"]}


async def test_a_request_without_a_token_is_401(hub: FakePlugboard) -> None:
    response = await hub.request("create_order", {})
    assert response["status_code"] == 401
    assert (await hub.request("ping", {}))["status_code"] == 200


async def test_the_token_in_the_request_headers_is_checked(hub: FakePlugboard) -> None:
    ok = await hub.request("create_order", {"item": "pen"}, headers=headers("orders:write"))
    assert ok["status_code"] == 200
    assert ok["fields"] == {"item": "pen", "by": "alice", "transport": "plugboard"}
    refused = await hub.request("list_orders", {}, headers=headers("orders:write"))
    assert refused["status_code"] == 403


@pytest.mark.parametrize("name", sorted(FORGED))
async def test_forged_tokens_are_refused(hub: FakePlugboard, name: str) -> None:
    response = await hub.request("create_order", {}, headers={"authorization": f"Bearer {FORGED[name]}"})
    assert response["status_code"] == 401, name
    assert response["message"] in ("Invalid or expired token", "Authentication required")


async def test_a_job_identity_header_is_ignored_on_plugboard(hub: FakePlugboard) -> None:
    from plugwork.auth.carriers import IDENTITY_HEADER, IdentitySigner

    forged = IdentitySigner(b"k" * 32).sign({"sub": "root", "permissions": ["orders:write"]})
    response = await hub.request("create_order", {}, headers={IDENTITY_HEADER: forged})
    assert response["status_code"] == 401
