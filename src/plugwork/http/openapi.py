"""OpenAPI 3.1 for the app: one typed operation per action, plus interactive docs (Swagger UI)."""

from __future__ import annotations

from html import escape
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
    for plugin in app.active_plugins:
        paths.update(plugin.openapi_paths(app))
    return {
        "openapi": "3.1.0",
        "info": {"title": app.name, "version": app.settings.version},
        "paths": paths,
        "components": {"schemas": components},
    }


def swagger_html(title: str, openapi_url: str) -> str:
    """Swagger UI, loaded from the jsDelivr CDN by the browser (as FastAPI does)."""
    cdn = "https://cdn.jsdelivr.net/npm/swagger-ui-dist@5"
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>{escape(title)}</title>
<link rel="stylesheet" href="{cdn}/swagger-ui.css"></head>
<body><div id="swagger-ui"></div>
<script src="{cdn}/swagger-ui-bundle.js"></script>
<script>SwaggerUIBundle({{url: "{escape(openapi_url)}", dom_id: "#swagger-ui", deepLinking: true}});</script>
</body></html>"""
