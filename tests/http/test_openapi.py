"""``/openapi.json``: one typed operation per action, every ``$ref`` resolvable; ``/docs``."""

from __future__ import annotations

from typing import Any

from http_app import make_app
from pydantic import BaseModel

from core_helpers import OFFLINE
from plugwork import App, action
from plugwork.testing import TestClient


class Address(BaseModel):
    street: str
    city: str


class Customer(BaseModel):
    name: str
    addresses: list[Address]


class CustomerOut(BaseModel):
    id: int
    customer: Customer


@action("customers.create", description="Create a customer\n\nWith nested addresses.", tags=["crm"])
async def create_customer(input: Customer) -> CustomerOut:
    return CustomerOut(id=1, customer=input)


def refs(node: Any) -> list[str]:
    """Every ``$ref`` value anywhere in a JSON document."""
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [r for value in node.values() for r in refs(value)]
    if isinstance(node, list):
        return [r for value in node for r in refs(value)]
    return []


def resolve(doc: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), ref
    node: Any = doc
    for part in ref[2:].split("/"):
        node = node[part]
    return node


async def test_one_typed_operation_per_action(client: TestClient) -> None:
    response = await client.http.get("/openapi.json")
    assert response.status_code == 200
    doc = response.json()
    assert doc["openapi"].startswith("3.")
    assert doc["info"]["title"] == "http-test"
    actions = {
        path: item for path, item in doc["paths"].items() if "post" in item and path.startswith("/actions/")
    }
    assert set(actions) == {f"/actions/{name}" for name in client.app.actions}
    for name, item in ((p.removeprefix("/actions/"), item) for p, item in actions.items()):
        assert list(item) == ["post"], name
        operation = item["post"]
        assert operation["operationId"] == name
        for status in ("200", "400", "404", "413", "422", "500", "504"):
            assert status in operation["responses"], (name, status)
    greet = doc["paths"]["/actions/greet"]["post"]
    assert greet["summary"] == "Say hello" and greet["tags"] == ["greetings"]
    body_schema = greet["requestBody"]["content"]["application/json"]["schema"]
    assert resolve(doc, body_schema["$ref"])["properties"]["name"]["minLength"] == 1
    out_schema = greet["responses"]["200"]["content"]["application/json"]["schema"]
    assert resolve(doc, out_schema["$ref"])["properties"]["message"]["type"] == "string"
    error_schema = greet["responses"]["422"]["content"]["application/json"]["schema"]
    assert set(resolve(doc, error_schema["$ref"])["properties"]) == {"error_code", "error_message", "details"}
    defaults = doc["paths"]["/actions/defaults"]["post"]
    assert defaults["responses"]["200"]["content"]["application/json"]["schema"] == {
        "type": "object",
        "additionalProperties": {"type": "boolean"},
    }
    header = greet["parameters"][0]
    assert header["name"] == "X-Correlation-ID" and header["in"] == "header"


async def test_every_ref_resolves_including_nested_models() -> None:
    async with TestClient(App("crm", actions=[create_customer]), **OFFLINE) as client:
        doc = (await client.http.get("/openapi.json")).json()
    all_refs = refs(doc)
    assert all_refs, "models are referenced, not inlined"
    for ref in all_refs:
        target = resolve(doc, ref)
        assert isinstance(target, dict) and target, ref
    schemas = doc["components"]["schemas"]
    assert {"Address", "Customer", "CustomerOut", "Error"} <= set(schemas)
    assert "$defs" not in str(doc)
    op = doc["paths"]["/actions/customers.create"]["post"]
    assert op["description"] == "Create a customer\n\nWith nested addresses."
    assert op["summary"] == "Create a customer" and op["tags"] == ["crm"]
    customer = resolve(doc, op["requestBody"]["content"]["application/json"]["schema"]["$ref"])
    assert customer["properties"]["addresses"]["items"] == {"$ref": "#/components/schemas/Address"}


async def test_class_style_output_is_an_object(client: TestClient) -> None:
    doc = (await client.http.get("/openapi.json")).json()
    create = doc["paths"]["/actions/create"]["post"]
    schema = create["responses"]["200"]["content"]["application/json"]["schema"]
    assert schema["type"] == "object"
    body = resolve(doc, create["requestBody"]["content"]["application/json"]["schema"]["$ref"])
    assert body["required"] == ["title"]


async def test_docs_page(client: TestClient) -> None:
    response = await client.http.get("/docs")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "swagger-ui" in response.text
    assert '"/openapi.json"' in response.text
    assert "http-test" in response.text


async def test_docs_work_offline_with_assets_served_by_the_app(client: TestClient) -> None:
    page = (await client.http.get("/docs")).text
    assert "cdn" not in page.lower() and "https://" not in page
    for asset in ("/docs/assets/swagger-ui-bundle.js", "/docs/assets/swagger-ui.css"):
        assert asset in page
        response = await client.http.get(asset)
        assert response.status_code == 200 and len(response.content) > 10_000
    assert (await client.http.get("/docs/assets/../openapi.py")).status_code == 404


async def test_health_catalog_and_jobs_are_in_the_openapi_document(client: TestClient) -> None:
    paths = (await client.http.get("/openapi.json")).json()["paths"]
    for path in ("/health", "/health/live", "/health/ready", "/metrics", "/actions", "/actions/{name}"):
        assert "get" in paths[path], path
    assert "/jobs" not in paths  # this client runs without the queue
    async with TestClient(make_app()) as queued:
        paths = (await queued.http.get("/openapi.json")).json()["paths"]
    assert {"post", "get"} <= set(paths["/jobs"])
    assert "post" in paths["/jobs/{job_id}/retry"] and "get" in paths["/jobs/{job_id}"]
