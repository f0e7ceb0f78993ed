"""The REST naming conventions, overrides and exclusions, for function actions, runners and events."""

from __future__ import annotations

import re

import pytest
from pydantic import BaseModel

from plugwork import ActionRunner, action
from plugwork.actions import as_action
from plugwork.errors import DefinitionError
from plugwork.rest import api_endpoint, convention, exclude_from_api, rest_route, rest_routes
from plugwork.rest.conventions import plural


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("CreateUser", ("POST", "/users")),
        ("GetUser", ("GET", "/users/{user_id}")),
        ("ListUsers", ("GET", "/users")),
        ("UpdateUser", ("PUT", "/users/{user_id}")),
        ("DeleteUser", ("DELETE", "/users/{user_id}")),
        ("SearchUsers", ("POST", "/users/search")),
        ("create_user", ("POST", "/users")),
        ("get_user", ("GET", "/users/{user_id}")),
        ("list_users", ("GET", "/users")),
        ("update_user", ("PUT", "/users/{user_id}")),
        ("delete_user", ("DELETE", "/users/{user_id}")),
        ("search_users", ("POST", "/users/search")),
        ("GetOrderItem", ("GET", "/order-items/{order_item_id}")),
        ("get_category", ("GET", "/categories/{category_id}")),
        ("CreateBox", ("POST", "/boxes")),
        ("GetHTTPClient", ("GET", "/http-clients/{http_client_id}")),
    ],
)
def test_conventions(name: str, expected: tuple[str, str]) -> None:
    assert convention(name) == expected


@pytest.mark.parametrize(
    "name", ["greet", "myapp.greet", "Getuser", "Create", "get_", "FetchUser", "get-user"]
)
def test_names_without_a_convention(name: str) -> None:
    assert convention(name) is None


def test_id_field_fallback() -> None:
    assert convention("GetUser", {"id", "verbose"}) == ("GET", "/users/{id}")
    assert convention("GetUser", {"id", "user_id"}) == ("GET", "/users/{user_id}")


def test_plural() -> None:
    assert [plural(w) for w in ("user", "key", "city", "bus", "match", "order_item")] == [
        "users",
        "keys",
        "cities",
        "buses",
        "matches",
        "order_items",
    ]


class Lookup(BaseModel):
    user_id: int


class GetUser(ActionRunner):
    user_id: int

    async def run(self) -> dict[str, int]:
        return {"user_id": self.user_id}


@api_endpoint(path="/me", method="get", tags=["self"], summary="Who am I")
class WhoAmI(ActionRunner):
    async def run(self) -> dict[str, str]:
        return {}


@exclude_from_api
class DeleteUser(ActionRunner):
    user_id: int

    async def run(self) -> None:
        return None


def test_runner_actions() -> None:
    route = rest_route(as_action(GetUser))  # type: ignore[arg-type]
    assert route is not None and (route.method, route.path, route.path_params) == (
        "GET",
        "/users/{user_id}",
        ("user_id",),
    )
    custom = rest_route(as_action(WhoAmI))  # type: ignore[arg-type]
    assert custom is not None and (custom.method, custom.path, custom.tags, custom.summary) == (
        "GET",
        "/me",
        ("self",),
        "Who am I",
    )
    assert rest_route(as_action(DeleteUser)) is None  # type: ignore[arg-type]


def test_two_actions_on_one_route_are_refused() -> None:
    @action
    async def get_user(inp: Lookup) -> None:
        return None

    assert as_action(get_user) is not None
    with pytest.raises(DefinitionError, match=re.escape("both map to GET /users/{user_id}")):
        rest_routes([as_action(GetUser), as_action(get_user)])  # type: ignore[list-item]


def test_bad_overrides_are_refused() -> None:
    with pytest.raises(ValueError):
        api_endpoint(method="FETCH")
    with pytest.raises(ValueError):
        api_endpoint(path="users")
