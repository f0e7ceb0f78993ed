"""Events as actions of an App: the catalog, HTTP, the job queue, Plugboard, the App's middleware, and the
convention REST routes of RestPlugin with their OpenAPI operations."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from pydantic import BaseModel
from seed_greeter import GreeterModule, GreetEvent, GreetInput
from seed_users import (
    CreateUser,
    DeleteUser,
    GetPing,
    GetUser,
    InternalSyncEvent,
    ListUsers,
    SearchUsers,
    UpdateUser,
    UserModule,
)

from core_helpers import OFFLINE
from plugwork import App, action
from plugwork.dispatch import CallNext, Invocation, Outcome
from plugwork.events import ModuleHost
from plugwork.queue.client import JobQueue
from plugwork.rest import RestPlugin, api_endpoint
from plugwork.testing import TestClient


def users_app(**plugins: Any) -> tuple[App, ModuleHost, list[str]]:
    seen: list[str] = []

    async def spy(invocation: Invocation, call_next: CallNext) -> Outcome:
        seen.append(f"{invocation.context.transport}:{invocation.action}")
        return await call_next(invocation)

    host = ModuleHost()
    host.register(UserModule())
    host.register(GreeterModule())
    for kind in (CreateUser, GetUser, ListUsers, UpdateUser, DeleteUser, SearchUsers, InternalSyncEvent):
        host.register_event(kind)
    app = App("users", middleware=[spy], plugins=[RestPlugin(**plugins)])
    host.attach(app)
    host.register_event(GreetEvent)  # after attach, before start: still an action of the app
    return app, host, seen


async def test_events_are_actions_with_json_schema() -> None:
    app, _host, _ = users_app()
    async with TestClient(app, **OFFLINE) as client:
        catalog = {entry["name"]: entry for entry in (await client.http.get("/actions")).json()}
        assert {"CreateUser", "GetUser", "myapp.greet", "InternalSyncEvent"} <= set(catalog)
        greet = catalog["myapp.greet"]
        assert greet["input_schema"]["properties"]["name"] == {
            "default": "World",
            "title": "Name",
            "type": "string",
        }
        assert greet["output_schema"]["properties"]["message"]["type"] == "string"
        assert catalog["GetUser"]["description"] == "Fetch one user by id."


async def test_events_over_http_call_and_the_app_middleware() -> None:
    app, host, seen = users_app()
    async with TestClient(app, **OFFLINE) as client:
        response = await client.http.post("/actions/myapp.greet", json={"name": "Http"})
        assert response.json() == {"message": "Hello, Http!"}
        assert (await client.call("GetUser", user_id=1)).name == "Ada"
        event = GreetEvent(GreetInput(name="Async"))
        await host.handle_async(event)
        # sync code in another thread: runs on the app's loop, through the app's dispatcher
        sync_event = GreetEvent(GreetInput(name="Sync"))
        await asyncio.to_thread(host.handle, sync_event)
        assert sync_event.output.message == "Hello, Sync!"
    assert seen == ["http:myapp.greet", "call:GetUser", "call:myapp.greet", "call:myapp.greet"]
    assert host.metrics.events_handled == 4


async def test_events_as_durable_jobs() -> None:
    app, _host, _ = users_app()
    async with TestClient(app, queue_url="memory://", plugboard_url="") as client:
        job_id = await client.app.enqueue("myapp.greet", {"name": "Job"})
        job = await client.app.get(JobQueue).wait(job_id, 10)
        assert job.status.value == "completed" and job.result == {"message": "Hello, Job!"}


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "expected"),
    [
        ("POST", "/users", {"name": "Grace"}, 200, {"user_id": 2, "name": "Grace", "email": ""}),
        ("GET", "/users/1", None, 200, {"user_id": 1, "name": "Ada", "email": "ada@example.com"}),
        ("GET", "/users?limit=1&tags=a&tags=b", None, 200, None),
        (
            "PUT",
            "/users/1",
            {"name": "Lovelace"},
            200,
            {"user_id": 1, "name": "Lovelace", "email": "ada@example.com"},
        ),
        ("DELETE", "/users/1", None, 200, {"deleted": True}),
        ("POST", "/users/search", {"query": "AD"}, 200, None),
        ("GET", "/users/99", None, 404, None),
    ],
)
async def test_convention_routes(method: str, path: str, body: Any, status: int, expected: Any) -> None:
    app, _host, _ = users_app(prefix="/api/v1")
    async with TestClient(app, **OFFLINE) as client:
        response = await client.http.request(method, "/api/v1" + path, json=body)
        assert response.status_code == status, response.text
        if expected is not None:
            assert response.json() == expected
        if path.startswith("/users?"):
            assert response.json() == {
                "users": [{"user_id": 1, "name": "Ada", "email": "ada@example.com"}],
                "tags": ["a", "b"],
            }
        if path == "/users/search":
            assert [u["name"] for u in response.json()["users"]] == ["Ada"]


@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    [
        ("GET", "/users/abc", None, "user_id"),
        ("GET", "/users/0", None, "user_id"),
        ("GET", "/users?limit=1000", None, "limit"),
        ("GET", "/users/1?verbose=maybe", None, "verbose"),
        ("PUT", "/users/x", {"name": "A"}, "user_id"),
        ("DELETE", "/users/nope", None, "user_id"),
        ("POST", "/users", {"name": ""}, "name"),
        ("POST", "/users/search", {}, "query"),
    ],
)
async def test_path_query_and_body_errors_are_the_same_422(
    method: str, path: str, body: Any, field: str
) -> None:
    app, _host, _ = users_app()
    async with TestClient(app, **OFFLINE) as client:
        response = await client.http.request(method, path, json=body)
        assert response.status_code == 422
        payload = response.json()
        assert payload["error_code"] == "VALIDATION_ERROR" and payload["details"][0]["field"] == field
        direct = await client.http.post("/actions/GetUser", json={"user_id": "abc"})
        assert direct.json()["details"][0]["type"] == "int_parsing"


async def test_malformed_and_oversized_bodies() -> None:
    app, _host, _ = users_app()
    async with TestClient(app, max_body_bytes=64, **OFFLINE) as client:
        bad = await client.http.post("/users", content=b"{nope", headers={"content-type": "application/json"})
        assert bad.status_code == 400 and bad.json()["error_code"] == "BAD_REQUEST"
        listed = await client.http.post("/users", json=[1])
        assert listed.status_code == 422
        big = await client.http.post("/users", json={"name": "x" * 100})
        assert big.status_code == 413
        form = await client.http.post("/users", content=b"name=a", headers={"content-type": "text/plain"})
        assert form.status_code == 415 and form.json()["error_code"] == "UNSUPPORTED_MEDIA_TYPE"


async def test_excluded_and_unconventional_events_get_no_route() -> None:
    app, _host, _ = users_app()
    async with TestClient(app, **OFFLINE) as client:
        spec = (await client.http.get("/openapi.json")).json()
        assert "/internal-sync-events" not in str(spec["paths"])
        assert not any("greet" in path and not path.startswith("/actions") for path in spec["paths"])


async def test_plugwork_openapi_shows_typed_rest_operations() -> None:
    app, _host, _ = users_app()
    async with TestClient(app, **OFFLINE) as client:
        spec = (await client.http.get("/openapi.json")).json()
    get_user = spec["paths"]["/users/{user_id}"]["get"]
    assert get_user["parameters"][0] == {
        "name": "user_id",
        "in": "path",
        "required": True,
        "schema": {"minimum": 1, "title": "User Id", "type": "integer"},
    }
    assert {p["name"]: p["in"] for p in get_user["parameters"]} == {"user_id": "path", "verbose": "query"}
    assert get_user["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/UserOut"
    }
    create = spec["paths"]["/users"]["post"]
    assert create["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/CreateUserInput"
    }
    assert set(spec["paths"]["/users/{user_id}"]) == {"get", "put", "delete"}
    assert spec["paths"]["/users/search"]["post"]["tags"] == ["Users", "Search"]
    for ref in ("UserOut", "CreateUserInput", "ListUsersOutput"):
        assert ref in spec["components"]["schemas"]


class OrderIn(BaseModel):
    order_item_id: int


class Lookup(BaseModel):
    id: str


async def test_rest_routes_for_plain_actions_and_snake_case() -> None:
    @action
    async def get_order_item(inp: OrderIn) -> dict[str, int]:
        return {"id": inp.order_item_id}

    @action
    async def delete_category(inp: Lookup) -> dict[str, str]:
        return {"deleted": inp.id}

    @api_endpoint(path="/ping/{id}", method="GET", summary="Ping")
    @action("Custom")
    async def custom(inp: Lookup) -> dict[str, str]:
        return {"pong": inp.id}

    app = App("plain", actions=[get_order_item, delete_category, custom], plugins=[RestPlugin()])
    async with TestClient(app, **OFFLINE) as client:
        assert (await client.http.get("/order-items/7")).json() == {"id": 7}
        assert (await client.http.delete("/categories/c1")).json() == {"deleted": "c1"}
        assert (await client.http.get("/ping/p")).json() == {"pong": "p"}
        assert (await client.http.get("/order-items/x")).status_code == 422


async def test_dataclass_event_with_custom_route_and_query_params() -> None:
    host = ModuleHost()
    from plugwork.events import Module

    class Pinger(Module):
        def can_handle(self, event: Any) -> bool:
            return isinstance(event, GetPing)

        def handle(self, event: Any) -> None:
            from seed_users import PingOutput

            event.output = PingOutput(pongs=event.input.count)
            event.handled = True

    host.register(Pinger())
    api_endpoint(path="/ping", method="GET")(GetPing)
    host.register_event(GetPing)
    app = host.attach(App("ping", plugins=[RestPlugin()]))
    async with TestClient(app, **OFFLINE) as client:
        assert (await client.http.get("/ping?count=3")).json() == {"pongs": 3}
        bad = await client.http.get("/ping?count=many")
        assert bad.status_code == 422 and bad.json()["details"][0]["field"] == "count"
