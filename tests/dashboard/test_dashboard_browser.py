"""The dashboard in headless Chromium (Debian's ``chromium``, driven by Playwright's Python client) against
``plugwork run`` of ``examples/dashboard`` with jobs in every status. Screenshots go to
``tests/dashboard/screenshots/`` (git-ignored). Skipped locally without chromium or playwright, a failure
under ``CI=true``."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from browser_helpers import (
    EXAMPLES,
    SHOTS,
    WAIT,
    browser_page,
    clean_env,
    free_port,
    plugwork,
    require_browser,
    sign_in,
    until,
)

EXAMPLE = EXAMPLES / "dashboard"
TOKEN = "dashboard-browser-test-token-0123456789"
JOBS_TOKEN = "jobs-api-browser-test-token-0123456789"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    """``plugwork run`` of the example on a SQLite queue of its own, dashboard on, guarded by a token."""
    port = free_port()
    env = clean_env(
        PLUGWORK_QUEUE_URL=f"sqlite:///{tmp_path}/jobs.db",
        PLUGWORK_DASHBOARD="true",
        PLUGWORK_MANAGEMENT_API="true",
        PLUGWORK_MANAGEMENT_TOKEN=TOKEN,
        PLUGWORK_JOBS_API_TOKEN=JOBS_TOKEN,
        PLUGWORK_SHUTDOWN_TIMEOUT_SECONDS="1",
    )
    base = f"http://127.0.0.1:{port}"
    args = ["run", "app:app", "--port", str(port)]
    with plugwork(args, f"{base}/health/ready", tmp_path / "server.log", env, EXAMPLE):
        yield base


def _seed(base: str) -> dict[str, str]:
    """Jobs in every status the dashboard shows; returns their ids by role."""
    headers = {"Authorization": f"Bearer {JOBS_TOKEN}"}

    def enqueue(action: str, options: dict[str, Any] | None = None, **fields: Any) -> str:
        body = {"action": action, **fields, "_options": options or {}}
        reply = httpx.post(f"{base}/jobs", json=body, headers=headers, timeout=5)
        assert reply.status_code == 202, reply.text
        job_id: str = reply.json()["job_id"]
        return job_id

    def status(job_id: str) -> str:
        value: str = httpx.get(f"{base}/jobs/{job_id}", headers=headers, timeout=5).json()["status"]
        return value

    ids = {
        "completed": enqueue("greet", name="Ada"),
        "dead": enqueue("fragile", {"max_attempts": 1}, fail_until=time.time() + 4),
        "failed": enqueue("fragile", {"max_attempts": 5}, fail_until=time.time() + 3600),
        "scheduled": enqueue("greet", {"delay": 3600}, name="Later"),
        "cancelled": enqueue("greet", {"delay": 3600}, name="Never"),
        "processing": enqueue("slow", seconds=30),
    }
    httpx.post(f"{base}/jobs/{ids['cancelled']}/cancel", headers=headers, timeout=5)
    for role in ("completed", "dead", "failed", "processing", "cancelled"):
        until(f"the {role} job", lambda role=role: status(ids[role]) == role)
    return ids


def test_dashboard_in_chromium(server: str) -> None:
    sync_playwright = require_browser()
    from playwright.sync_api import expect

    ids = _seed(server)
    with sync_playwright() as pw, browser_page(pw, f"{server}/dashboard", height=860) as (page, errors):
        expect(page.locator("#signin")).to_be_visible()  # no token yet: the data routes said 401
        sign_in(page, TOKEN)
        expect(page.locator("#counts")).to_contain_text("dead 1")
        expect(page.locator("#counts")).to_contain_text("processing 1")
        expect(page.locator("#jobs tbody tr")).to_have_count(6)
        page.screenshot(path=str(SHOTS / "jobs.png"), full_page=True)

        # Filter to the dead jobs, open the one there, read its error.
        page.select_option("#filters select[name=status]", "dead")
        page.click("#filters button")
        expect(page.locator("#jobs tbody tr")).to_have_count(1)
        page.click(f'[data-open="{ids["dead"]}"]')
        expect(page.locator("#job")).to_contain_text("the upstream is down")
        page.screenshot(path=str(SHOTS / "dead-job.png"), full_page=True)

        # Retry it once its upstream is back, and watch it complete.
        until("the fragile job's upstream", lambda: _past(ids, server))
        page.click(f'#job button[data-act="retry"][data-id="{ids["dead"]}"]')
        # The open job re-reads itself while unfinished: no click needed to see it complete.
        expect(page.locator("#job .badge").first).to_have_text("completed", timeout=WAIT * 1000)
        expect(page.locator("#job")).to_contain_text("recovered")

        # Cancel the scheduled one.
        _open_by_text(page, ids["scheduled"])
        expect(page.locator("#job")).to_contain_text("scheduled")
        page.click(f'#job button[data-act="cancel"][data-id="{ids["scheduled"]}"]')
        expect(page.locator("#job .badge").first).to_have_text("cancelled")

        # Try an action from the form its input schema became.
        page.click("nav a[data-tab=actions]")
        form = page.locator('form.try[data-action="greet"]')
        form.locator("input[name=name]").fill("Dashboard")
        form.locator("input[name=excited]").check()
        form.locator("button").click()
        expect(form.locator(".outcome")).to_contain_text("Hello, Dashboard!")
        page.screenshot(path=str(SHOTS / "actions.png"), full_page=True)

        # Stop and start a service through the management API, with the same token.
        page.click("nav a[data-tab=services]")
        expect(page.locator("#tab-services")).to_contain_text("job_queue")
        state = page.locator("#tab-services table").first.locator("tr", has_text="mailer").locator(".badge")
        expect(state).to_have_text("running")
        page.locator('#tab-services button[data-service="mailer"][data-op="stop"]').click()
        expect(state).to_have_text("stopped")
        page.locator('#tab-services button[data-service="mailer"][data-op="start"]').click()
        expect(state).to_have_text("running")
        page.screenshot(path=str(SHOTS / "services.png"), full_page=True)
        assert TOKEN not in page.content()
        assert errors == []


def _past(ids: dict[str, str], server: str) -> bool:
    """Whether the dead job's ``fail_until`` has passed (it was set 4 seconds after seeding began)."""
    job = httpx.get(f"{server}/jobs/{ids['dead']}", headers={"Authorization": f"Bearer {JOBS_TOKEN}"}).json()
    return bool(time.time() > job["payload"]["fail_until"] + 0.2)


def _open_by_text(page: Any, job_id: str) -> None:
    """Show only ``job_id`` in the list (any status) and open it."""
    page.select_option("#filters select[name=status]", "")
    page.fill("#filters input[name=text]", job_id)
    page.click("#filters button")
    page.locator(f'[data-open="{job_id}"]').wait_for()
    page.click(f'[data-open="{job_id}"]')
    page.locator(f'#job h2:text-is("Job {job_id}")').wait_for()
