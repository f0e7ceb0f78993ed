"""OpenAPI 3.1 for the app: one typed operation per action, plus interactive docs (Swagger UI)."""

from __future__ import annotations

from html import escape
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, TypeAdapter

if TYPE_CHECKING:
    from ..app import App

REF = "#/components/schemas/{model}"
ERROR_SCHEMA = {
    "type": "object",
    "title": "Error",
    "properties": {
        "error_code": {"type": "string"},
        "error_message": {"type": "string"},
        "details": {},
    },
    "required": ["error_code", "error_message"],
}


def _schema(kind: Any, components: dict[str, Any]) -> dict[str, Any]:
    """A JSON Schema referencing ``components``, into which the definitions are moved."""
    if kind is None or kind is Any or kind is type(None):
        return {}
    if isinstance(kind, type) and issubclass(kind, BaseModel):
        schema = kind.model_json_schema(ref_template=REF)
    else:
        schema = TypeAdapter(kind).json_schema(ref_template=REF)
    components.update(schema.pop("$defs", {}))
    if isinstance(kind, type) and issubclass(kind, BaseModel):
        components.setdefault(kind.__name__, schema)
        return {"$ref": REF.format(model=kind.__name__)}
    return schema


def openapi_spec(app: App) -> dict[str, Any]:
    """The OpenAPI document of ``app``'s actions."""
    from ..actions import ActionResponse

    components: dict[str, Any] = {"Error": ERROR_SCHEMA}
    paths: dict[str, Any] = {}
    error = {"application/json": {"schema": {"$ref": REF.format(model="Error")}}}
    for spec in sorted(app.actions.values(), key=lambda s: s.name):
        out = spec.output_type
        if isinstance(out, type) and issubclass(out, ActionResponse):
            out = dict[str, Any]
        paths[f"/actions/{spec.name}"] = {
            "post": {
                "operationId": spec.name,
                "summary": spec.description.splitlines()[0] if spec.description else spec.name,
                "description": spec.description,
                "tags": list(spec.tags) or ["actions"],
                "parameters": [
                    {
                        "name": "X-Correlation-ID",
                        "in": "header",
                        "required": False,
                        "schema": {"type": "string"},
                    }
                ],
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": _schema(spec.input_model, components)}},
                },
                "responses": {
                    "200": {
                        "description": "The action's output",
                        "content": {"application/json": {"schema": _schema(out, components)}},
                    },
                    "400": {"description": "Malformed JSON", "content": error},
                    "404": {"description": "Unknown action", "content": error},
                    "413": {"description": "Body too large", "content": error},
                    "422": {"description": "Invalid input, with the field errors", "content": error},
                    "500": {"description": "Internal error", "content": error},
                    "504": {"description": "Timed out", "content": error},
                },
            }
        }
    paths.update(_core_paths(error))
    for plugin in app.active_plugins:
        paths.update(plugin.openapi_paths(app))
    document: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {"title": app.name, "version": app.settings.version},
        "paths": paths,
        "components": {"schemas": components},
    }
    for plugin in app.active_plugins:
        plugin.openapi(app, document)
    return document


SWAGGER_ASSETS = Path(__file__).resolve().parent / "static" / "swagger-ui"
"""Swagger UI 5 (swagger-ui-dist, Apache-2.0), shipped in the wheel: /docs works offline, with no CDN."""


def _core_paths(error: dict[str, Any]) -> dict[str, Any]:
    """The routes every app serves besides its actions: catalog, health and metrics."""
    obj = {"application/json": {"schema": {"type": "object"}}}
    text = {"text/plain": {"schema": {"type": "string"}}}
    array = {"application/json": {"schema": {"type": "array", "items": {"type": "object"}}}}
    name = [{"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}]

    def get(op: str, summary: str, tag: str, responses: dict[str, tuple[str, Any]], **extra: Any) -> Any:
        answers = {
            status: {"description": what, "content": body} for status, (what, body) in responses.items()
        }
        return {"get": {"operationId": op, "summary": summary, "tags": [tag], "responses": answers, **extra}}

    return {
        "/actions": get("list_actions", "The action catalog", "catalog", {"200": ("Every action", array)}),
        "/actions/{name}": get(
            "describe_action",
            "One action's catalog entry",
            "catalog",
            {"200": ("The entry", obj), "404": ("Unknown action", error)},
            parameters=name,
        ),
        "/health": get(
            "health",
            "Every health check: RED, YELLOW or GREEN (the worst wins)",
            "health",
            {"200": ("GREEN or YELLOW", obj), "503": ("RED", obj)},
        ),
        "/health/live": get("liveness", "The process answers", "health", {"200": ("alive", obj)}),
        "/health/ready": get(
            "readiness",
            "Started, and every required service running",
            "health",
            {"200": ("ready", obj), "503": ("not ready", obj)},
        ),
        "/metrics": get("metrics", "Prometheus metrics", "health", {"200": ("Prometheus text", text)}),
    }


def swagger_html(title: str, openapi_url: str, assets: str = "/docs/assets") -> str:
    """Swagger UI, its script and style served by the app itself from ``assets``."""
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>{escape(title)}</title>
<link rel="stylesheet" href="{assets}/swagger-ui.css"></head>
<body><div id="swagger-ui"></div>
<script src="{assets}/swagger-ui-bundle.js"></script>
<script>SwaggerUIBundle({{url: "{escape(openapi_url)}", dom_id: "#swagger-ui", deepLinking: true}});</script>
</body></html>"""
