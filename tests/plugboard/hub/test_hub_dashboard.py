"""The hub's dashboard: services, consumers, tokens without their values, requests by outcome."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
from hub_helpers import ADMIN_TOKEN, fast_settings, make_credentials, produce, running_hub
from pydantic import BaseModel

from plugwork import App, action

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


class Ping(BaseModel):
    text: str = "x"


@action(name="Ping")
async def ping(data: Ping) -> Ping:
    return data


async def test_the_hub_dashboard_shows_the_hub_and_no_secret(tmp_path: Path) -> None:
    async with running_hub(fast_settings(tmp_path, dashboard=True)) as hub:
        creds = await make_credentials(hub.hub, name="pinger")
        app = App("pinger", actions=[ping])
        app.configure(
            plugboard_url=f"ws://127.0.0.1:{hub.port}/websocket",
            plugboard_token=creds.token,
            queue_url="none",
        )
        async with app, httpx.AsyncClient(base_url=hub.url, timeout=10) as http:
            async with asyncio.timeout(10):
                while hub.hub.router.count(creds.service_id) == 0:
                    await asyncio.sleep(0.02)
            body = {"service_id": creds.service_id, "action": "Ping", "fields": {"text": "hi"}}
            assert (await produce(http, creds.account_token, body)).status_code == 200
            page = await http.get("/dashboard")
            assert page.status_code == 200 and 'data-tab="hub"' in page.text
            assert (await http.get("/dashboard/api/hub")).status_code == 401
            assert (
                await http.get("/dashboard/api/hub", headers={"Authorization": "Bearer no"})
            ).status_code == 401
            panel = (await http.get("/dashboard/api/hub", headers=ADMIN)).text
            assert "pinger" in panel and creds.token_id in panel
            assert "<td>pinger</td><td>" in panel and "<td>1</td>" in panel  # one consumer connected
            assert creds.token not in panel and creds.account_token not in panel and ADMIN_TOKEN not in panel
            outcomes = panel.split("Requests by outcome", 1)[1]
            assert "<td>answered</td><td>1</td>" in outcomes


async def test_off_by_default_and_refused_without_an_admin_token(tmp_path: Path) -> None:
    async with running_hub(fast_settings(tmp_path)) as hub, httpx.AsyncClient(base_url=hub.url) as http:
        assert (await http.get("/dashboard")).status_code == 404
    no_admin = fast_settings(tmp_path, dashboard=True, admin_token=None)
    async with running_hub(no_admin) as hub, httpx.AsyncClient(base_url=hub.url) as http:
        refused = await http.get("/dashboard/api/hub", headers=ADMIN)
        assert refused.status_code == 403 and "admin token" in refused.json()["error_message"]
