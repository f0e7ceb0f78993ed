"""The hub's dashboard in headless Chromium, against the commands users run: ``plugwork hub --dashboard``, its
admin API, and ``plugwork run`` of ``examples/dashboard`` connected to it as a consumer. The screenshot goes
to ``tests/dashboard/screenshots/hub.png`` (git-ignored). Skipped locally without chromium or playwright, a
failure under ``CI=true``."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from browser_helpers import (
    EXAMPLES,
    SHOTS,
    browser_page,
    clean_env,
    free_port,
    plugwork,
    require_browser,
    sign_in,
    until,
)

ADMIN_TOKEN = "hub-admin-browser-test-token-0123456789"
REQUEST_TIMEOUT = 2.0  # the hub's --request-timeout: the `slow` request below outlasts it


@dataclass
class Hub:
    url: str
    account: dict[str, Any]  # as the admin API created them, secrets included
    services: dict[str, dict[str, Any]]
    tokens: dict[str, dict[str, Any]]

    def produce(self, service: str, action: str, fields: dict[str, Any], token: str | None = None) -> int:
        """``POST /`` as a producer; the HTTP status."""
        body = {"service_id": self.services[service]["id"], "action": action, "fields": fields}
        auth = {"Authorization": f"Bearer {token or self.account['token']}"}
        return httpx.post(f"{self.url}/", json=body, headers=auth, timeout=REQUEST_TIMEOUT + 10).status_code


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[Hub]:
    """``plugwork hub --dashboard`` with an account, two services and a token each, made with the admin API,
    and ``plugwork run`` of the example app connected as the consumer of one of them."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    args = ["hub", "--port", str(port), "--store", f"sqlite:///{tmp_path}/hub.db"]
    args += ["--admin-token", ADMIN_TOKEN, "--dashboard", "--request-timeout", str(REQUEST_TIMEOUT)]
    with plugwork(args, f"{url}/health/ready", tmp_path / "hub.log", clean_env(), tmp_path):
        admin = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=10)

        def create(path: str, body: dict[str, Any]) -> dict[str, Any]:
            reply = admin.post(path, json=body)
            assert reply.status_code == 201, reply.text
            created: dict[str, Any] = reply.json()
            return created

        with admin:
            account = create("/admin/accounts", {"name": "shop"})
            services = {name: create("/admin/services", {"name": name}) for name in ("greeter", "reports")}
            tokens = {
                name: create("/admin/tokens", {"service_id": svc["id"]}) for name, svc in services.items()
            }
        consumer_port = free_port()
        env = clean_env(
            PLUGWORK_PLUGBOARD_URL=f"ws://127.0.0.1:{port}/websocket",
            PLUGWORK_PLUGBOARD_TOKEN=tokens["greeter"]["value"],
            PLUGWORK_QUEUE_URL="none",
            PLUGWORK_SHUTDOWN_TIMEOUT_SECONDS="1",
        )
        consumer = ["run", "app:app", "--port", str(consumer_port)]
        ready = f"http://127.0.0.1:{consumer_port}/health/ready"
        with plugwork(consumer, ready, tmp_path / "consumer.log", env, EXAMPLES / "dashboard"):
            until("the consumer to join the hub", lambda: _consumers(url) == 1)
            yield Hub(url, account, services, tokens)


def _consumers(url: str) -> float:
    for line in httpx.get(f"{url}/metrics", timeout=5).text.splitlines():
        if line.startswith("plugboard_hub_consumers_connected "):
            return float(line.split()[1])
    return 0.0


def test_hub_dashboard_in_chromium(hub: Hub) -> None:
    sync_playwright = require_browser()
    from playwright.sync_api import expect

    # Requests that end in each way the table counts: answered (a consumer's refusal is an answer too), no
    # consumer for the service, the consumer too slow, an unknown account token.
    assert hub.produce("greeter", "greet", {"name": "Ada"}) == 200
    assert hub.produce("greeter", "greet", {"name": "Grace", "excited": True}) == 200
    assert hub.produce("greeter", "greet", {"name": ""}) == 400  # the consumer refused the input
    assert hub.produce("reports", "monthly", {}) == 422
    assert hub.produce("reports", "monthly", {}) == 422
    assert hub.produce("greeter", "slow", {"seconds": REQUEST_TIMEOUT + 2}) == 408
    assert hub.produce("greeter", "greet", {"name": "Eve"}, token="not-an-account-token") == 401

    secrets = [ADMIN_TOKEN, hub.account["token"], *(t["value"] for t in hub.tokens.values())]
    greeter, reports = hub.services["greeter"], hub.services["reports"]
    with sync_playwright() as pw, browser_page(pw, f"{hub.url}/dashboard", height=900) as (page, errors):
        expect(page.locator("#signin")).to_be_visible()  # no token yet: the data route said 401
        expect(page.locator("#tab-hub table")).to_have_count(0)
        sign_in(page, ADMIN_TOKEN)

        services = page.locator("#hub-services tbody tr")
        expect(services).to_have_count(2)
        expect(services.filter(has_text=greeter["id"]).locator("td")).to_have_text(
            ["greeter", greeter["id"], "1", greeter["inserted_at"]]
        )
        expect(services.filter(has_text=reports["id"]).locator("td").nth(2)).to_have_text("0")

        consumers = page.locator("#hub-consumers tbody tr")
        expect(consumers).to_have_count(1)
        cells = consumers.locator("td")
        expect(cells.nth(1)).to_have_text("greeter")
        expect(cells.nth(2)).to_have_text(hub.tokens["greeter"]["id"])
        assert cells.nth(0).inner_text().strip()  # the hub's id for the socket

        tokens = page.locator("#hub-tokens tbody tr")
        expect(tokens).to_have_count(2)
        for name, token in hub.tokens.items():
            row = tokens.filter(has_text=token["id"]).locator("td")
            expect(row).to_have_text(
                [token["id"], name, token["context"], token["inserted_at"], token["expires_at"], "valid"]
            )

        expect(page.locator("#hub-accounts tbody tr td")).to_have_text(
            ["shop", hub.account["id"], hub.account["inserted_at"]]
        )

        outcomes = page.locator("#hub-requests tbody tr")
        for outcome, count in [("answered", 3), ("no_consumer", 2), ("timeout", 1), ("unauthorized", 1)]:
            expect(outcomes.filter(has_text=outcome).locator("td")).to_have_text([outcome, str(count)])
        page.screenshot(path=str(SHOTS / "hub.png"), full_page=True)

        html = page.content()
        for secret in secrets:
            assert secret not in html
        assert errors == []
