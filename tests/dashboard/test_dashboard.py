"""The dashboard over HTTP: guarded by default, CSRF-safe POSTs, escaped fragments, every job operation."""

from __future__ import annotations

import time

import jwt
import pytest
from pydantic import BaseModel, Field

from plugwork import App, Service, action
from plugwork.auth import AuthPlugin
from plugwork.errors import ConfigError
from plugwork.queue import JobQueue
from plugwork.testing import TestClient

TOKEN = "management-token-for-tests-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
POST = {**AUTH, "X-Plugwork-Dashboard": "1"}
SECRET = "a-jwt-secret-of-at-least-32-characters!!"


class GreetIn(BaseModel):
    name: str = Field(min_length=1, max_length=50, description="Who to greet")
    times: int = 1
    loud: bool = False


@action("greet", description="Say hello")
async def greet(input: GreetIn) -> dict[str, str]:
    return {"message": f"Hello, {input.name}"}


def client(**settings: object) -> TestClient:
    return TestClient(
        App("demo", actions=[greet]), worker=False, plugins={"dashboard": {"dashboard": True}}, **settings
    )


async def test_off_by_default() -> None:
    async with TestClient(App("demo", actions=[greet]), worker=False) as c:
        assert (await c.http.get("/dashboard")).status_code == 404


async def test_refuses_to_start_without_a_guard() -> None:
    with pytest.raises(ConfigError, match="dashboard needs a guard"):
        async with client():
            pass


async def test_the_page_is_a_shell_and_the_data_needs_the_token() -> None:
    async with client(management_token=TOKEN) as c:
        page = await c.http.get("/dashboard")
        assert page.status_code == 200 and "dashboard.js" in page.text
        assert "script-src 'self'" in page.headers["content-security-policy"]
        assert TOKEN not in page.text
        assert (await c.http.get("/dashboard/static/dashboard.js")).status_code == 200
        for path in ("/dashboard/api/counts", "/dashboard/api/jobs", "/dashboard/api/actions"):
            assert (await c.http.get(path)).status_code == 401
            assert (await c.http.get(path, headers={"Authorization": "Bearer wrong"})).status_code == 401
            assert (await c.http.get(path, headers=AUTH)).status_code == 200


async def test_posts_need_the_custom_header_and_the_same_origin() -> None:
    async with client(management_token=TOKEN) as c:
        [jid] = [await c.app.enqueue("greet", {"name": "a"})]
        body = {"ids": [jid]}
        assert (await c.http.post("/dashboard/api/jobs/cancel", json=body, headers=AUTH)).status_code == 403
        foreign = {**POST, "Origin": "https://evil.example"}
        assert (
            await c.http.post("/dashboard/api/jobs/cancel", json=body, headers=foreign)
        ).status_code == 403
        form = await c.http.post("/dashboard/api/jobs/cancel", data={"ids": jid}, headers=POST)
        assert form.status_code == 415
        ok = await c.http.post(
            "/dashboard/api/jobs/cancel", json=body, headers={**POST, "Origin": "http://testserver"}
        )
        assert ok.status_code == 200 and ok.json()["jobs"] == {jid: "cancelled"}


async def test_list_filters_pages_and_escapes() -> None:
    async with client(management_token=TOKEN) as c:
        ids = [await c.app.enqueue("greet", {"name": f"<b>n{i}</b>"}) for i in range(60)]
        page = await c.http.get("/dashboard/api/jobs", headers=AUTH)
        assert page.status_code == 200
        assert f'data-job="{ids[-1]}"' in page.text and f'data-job="{ids[9]}"' not in page.text
        assert f'data-page="{ids[10]}"' in page.text  # the cursor of the next, older page
        older = await c.http.get(f"/dashboard/api/jobs?before={ids[10]}", headers=AUTH)
        assert f'data-job="{ids[0]}"' in older.text and "data-page" not in older.text
        one = await c.http.get("/dashboard/api/jobs?text=n42", headers=AUTH)
        assert one.text.count("data-job=") == 1
        detail = await c.http.get(f"/dashboard/api/jobs/{ids[42]}", headers=AUTH)
        assert "&lt;b&gt;n42&lt;/b&gt;" in detail.text and "<b>n42" not in detail.text
        assert (await c.http.get("/dashboard/api/jobs?status=nope", headers=AUTH)).status_code == 400
        too_long = await c.http.get("/dashboard/api/jobs?action=" + "x" * 201, headers=AUTH)
        assert too_long.status_code == 400
        assert (await c.http.get("/dashboard/api/jobs/999999", headers=AUTH)).status_code == 404
        counts = (await c.http.get("/dashboard/api/counts", headers=AUTH)).json()
        assert counts["statuses"]["ready"] == 60 and counts["queues"]["default"] == {"ready": 60}


async def test_run_now_retry_and_bulk_cancel() -> None:
    async with client(management_token=TOKEN) as c:
        later = await c.app.enqueue("greet", {"name": "x"}, delay=3600)
        other = await c.app.enqueue("greet", {"name": "y"})
        done = await c.http.post("/dashboard/api/jobs/run_now", json={"ids": [later]}, headers=POST)
        assert done.json()["jobs"] == {later: "ready"}
        job = await c.app.get(JobQueue).get(later)
        assert job.run_at is not None and job.run_at.timestamp() <= time.time()
        bulk = await c.http.post(
            "/dashboard/api/jobs/cancel", json={"ids": [later, other, "nope"]}, headers=POST
        )
        assert bulk.json()["jobs"] == {later: "cancelled", other: "cancelled", "nope": None}
        again = await c.http.post("/dashboard/api/jobs/retry", json={"ids": [later]}, headers=POST)
        assert again.json()["jobs"] == {later: "ready"}
        assert (
            await c.http.post("/dashboard/api/jobs/explode", json={"ids": [later]}, headers=POST)
        ).status_code == 404
        too_many = {"ids": [str(i) for i in range(501)]}
        assert (
            await c.http.post("/dashboard/api/jobs/cancel", json=too_many, headers=POST)
        ).status_code == 422


async def test_actions_form_and_services_panel() -> None:
    async with client(management_token=TOKEN, management_api=True) as c:
        actions = (await c.http.get("/dashboard/api/actions", headers=AUTH)).text
        assert 'data-action="greet"' in actions
        assert 'name="name" required data-type="string"' in actions and 'maxlength="50"' in actions
        assert 'type=number step="1" name="times"' in actions and 'data-type="boolean"' in actions
        services = (await c.http.get("/dashboard/api/services", headers=AUTH)).text
        assert "Health" in services and "job_queue" in services
        assert TOKEN not in services and "<th>service</th>" in services


async def test_services_buttons_only_with_the_management_api() -> None:
    class Cache(Service):
        """A service with a secret in its configuration, which the dashboard must not show."""

        async def start(self) -> None:
            return None

    app = App("demo", actions=[greet], services=[Cache])
    settings = {"services": {"cache": {"password": "hunter2-secret"}}}
    async with TestClient(
        app,
        worker=False,
        plugins={"dashboard": {"dashboard": True}},
        management_token=TOKEN,
        management_api=True,
        **settings,
    ) as c:
        services = (await c.http.get("/dashboard/api/services", headers=AUTH)).text
        assert 'data-service="cache" data-op="stop"' in services and "running" in services
        assert "hunter2" not in services
    async with client(management_token=TOKEN) as c:
        services = (await c.http.get("/dashboard/api/services", headers=AUTH)).text
        assert 'data-op="start"' not in services and "management API" in services


async def test_the_auth_plugin_decides_by_permission() -> None:
    def bearer(*permissions: str) -> dict[str, str]:
        claims = {"sub": "ada", "permissions": list(permissions), "exp": int(time.time()) + 600}
        return {"Authorization": "Bearer " + jwt.encode(claims, SECRET, algorithm="HS256")}

    app = App("demo", actions=[greet], plugins=[AuthPlugin(jwt_secret=SECRET)])
    async with TestClient(app, worker=False, plugins={"dashboard": {"dashboard": True}}) as c:
        jid = await c.app.enqueue("greet", {"name": "a"})
        assert (await c.http.get("/dashboard/api/jobs")).status_code == 401
        assert (await c.http.get("/dashboard/api/jobs", headers=bearer("orders:read"))).status_code == 403
        assert (await c.http.get("/dashboard/api/jobs", headers=bearer("jobs:read"))).status_code == 200
        body = {"ids": [jid]}
        reader = {**bearer("jobs:read"), "X-Plugwork-Dashboard": "1"}
        assert (await c.http.post("/dashboard/api/jobs/cancel", json=body, headers=reader)).status_code == 403
        manager = {**bearer("jobs:manage"), "X-Plugwork-Dashboard": "1"}
        assert (
            await c.http.post("/dashboard/api/jobs/cancel", json=body, headers=manager)
        ).status_code == 200
        assert (await c.http.get("/dashboard/api/services", headers=bearer("jobs:read"))).status_code == 403


async def test_turned_on_in_code_by_a_plugin_of_the_same_name() -> None:
    from plugwork.dashboard import DashboardPlugin

    app = App("demo", actions=[greet], plugins=[DashboardPlugin(dashboard=True, dashboard_path="/ops")])
    async with TestClient(app, worker=False, management_token=TOKEN) as c:
        assert (await c.http.get("/ops")).status_code == 200
        assert (await c.http.get("/ops/api/jobs", headers=AUTH)).status_code == 200
        assert (await c.http.get("/dashboard")).status_code == 404
