"""Plugwork inside an existing FastAPI app: the whole app mounted with its lifespan, a typed router per
action, and the convention routes of a Plugwork app's actions."""

from __future__ import annotations

from contextlib import asynccontextmanager
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import BaseModel, Field

from core_helpers import OFFLINE
from plugwork import App, Service, ServiceState, action
from plugwork.fastapi import action_router, lifespan, mount_app, register_error_handlers, rest_router


class GreetIn(BaseModel):
    name: str = Field(min_length=1)


class GreetOut(BaseModel):
    message: str


class GetUserIn(BaseModel):
    user_id: int


class Clock(Service):
    pass


@action
async def greet(inp: GreetIn, clock: Clock) -> GreetOut:
    """Say hello."""
    assert clock.state is ServiceState.RUNNING
    return GreetOut(message=f"Hello, {inp.name}!")


@action
async def get_user(inp: GetUserIn) -> dict[str, Any]:
    return {"user_id": inp.user_id}


def make_app() -> App:
    return App("mounted", actions=[greet, get_user]).configure(**OFFLINE)


def test_mount_a_whole_plugwork_app_with_its_lifespan() -> None:
    events: list[str] = []

    @asynccontextmanager
    async def own(app: FastAPI) -> Any:
        events.append("fastapi up")
        yield
        events.append("fastapi down")

    outer = FastAPI(lifespan=own)

    @outer.get("/legacy")
    async def legacy() -> dict[str, str]:
        return {"legacy": "yes"}

    plugwork = make_app()
    mount_app(outer, plugwork, "/plugwork")
    with TestClient(outer) as client:
        assert plugwork.ready and events == ["fastapi up"]
        clock = plugwork.get(Clock)
        assert clock.state is ServiceState.RUNNING
        assert client.post("/plugwork/actions/greet", json={"name": "Ada"}).json() == {
            "message": "Hello, Ada!"
        }
        assert client.get("/plugwork/health").status_code == 200
        assert [a["name"] for a in client.get("/plugwork/actions").json()] == ["get_user", "greet"]
        assert client.get("/legacy").json() == {"legacy": "yes"}
        bad = client.post("/plugwork/actions/greet", json={"name": ""})
        assert bad.status_code == 422 and bad.json()["error_code"] == "VALIDATION_ERROR"
    assert not plugwork.ready and clock.state is ServiceState.STOPPED
    assert events == ["fastapi up", "fastapi down"]


def test_a_typed_router_per_action() -> None:
    plugwork = make_app()
    outer = FastAPI(lifespan=lifespan(plugwork))
    outer.include_router(action_router(plugwork, prefix="/rpc"))
    with TestClient(outer) as client:
        assert client.post("/rpc/greet", json={"name": "Bo"}).json() == {"message": "Hello, Bo!"}
        invalid = client.post("/rpc/greet", json={"name": ""})
        assert invalid.status_code == 422  # validated by FastAPI against the same input model
        schema = client.get("/openapi.json").json()
    op = schema["paths"]["/rpc/greet"]["post"]
    assert op["summary"] == "Say hello."
    assert op["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/GreetIn"
    }
    assert op["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/GreetOut"
    }


def test_typed_router_answers_503_while_plugwork_is_stopped() -> None:
    plugwork = make_app()
    outer = FastAPI()
    outer.include_router(action_router(plugwork))
    client = TestClient(outer)
    response = client.post("/greet", json={"name": "x"})
    assert response.status_code == 503 and response.json()["error_code"] == "UNAVAILABLE"


def test_rest_router_of_a_plugwork_app() -> None:
    plugwork = make_app()
    outer = FastAPI(lifespan=lifespan(plugwork))
    register_error_handlers(outer)
    outer.include_router(rest_router(plugwork), prefix="/api")
    with TestClient(outer) as client:
        assert client.get("/api/users/5").json() == {"user_id": 5}
        bad = client.get("/api/users/five")
        assert bad.status_code == 422 and bad.json()["details"][0]["field"] == "user_id"


@pytest.mark.parametrize("path", ["plugwork", "/trailing/"])
def test_mount_path_is_checked(path: str) -> None:
    with pytest.raises(ValueError):
        mount_app(FastAPI(), make_app(), path)
