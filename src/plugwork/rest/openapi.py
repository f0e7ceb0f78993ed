"""OpenAPI operations for REST routes: path and query parameters and bodies typed from the input model.

Schemas reference ``#/components/schemas/<Model>``: Plugwork's own document already holds every action's
input and output models (each action is also ``POST /actions/{name}``); :func:`rest_components` gives them
for a document of its own.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, TypeAdapter

from ..actions import Action
from .conventions import RestRoute

REF = "#/components/schemas/{model}"
_ERROR = {"application/json": {"schema": {"$ref": REF.format(model="Error")}}}


def _schema(kind: Any, components: dict[str, Any]) -> dict[str, Any]:
    if kind is None or kind is Any or kind is type(None):
        return {}
    if isinstance(kind, type) and issubclass(kind, BaseModel):
        schema = kind.model_json_schema(ref_template=REF)
        components.update(schema.pop("$defs", {}))
        components.setdefault(kind.__name__, schema)
        return {"$ref": REF.format(model=kind.__name__)}
    schema = TypeAdapter(kind).json_schema(ref_template=REF)
    components.update(schema.pop("$defs", {}))
    return schema


def rest_operation(route: RestRoute, spec: Action, components: dict[str, Any]) -> dict[str, Any]:
    """The OpenAPI operation of one REST route (adds the schemas it references to ``components``)."""
    schema = spec.input_model.model_json_schema(ref_template=REF)
    components.update(schema.pop("$defs", {}))
    props: dict[str, Any] = schema.get("properties", {})
    required = set(schema.get("required", []))
    in_path = route.path_params
    params = [
        {"name": p, "in": "path", "required": True, "schema": props.get(p, {"type": "string"})}
        for p in in_path
    ]
    if not route.has_body:
        params += [
            {"name": f, "in": "query", "required": f in required, "schema": s}
            for f, s in props.items()
            if f not in in_path
        ]
    out = spec.output_type
    operation: dict[str, Any] = {
        "operationId": f"rest_{spec.name}",
        "summary": route.summary,
        "description": spec.description,
        "tags": list(route.tags) or ["rest"],
        "parameters": params,
        "responses": {
            "200": {
                "description": "The action's output",
                "content": {"application/json": {"schema": _schema(out, components)}},
            },
            "400": {"description": "Malformed JSON", "content": _ERROR},
            "404": {"description": "Not found", "content": _ERROR},
            "422": {
                "description": "Invalid input (path, query or body), with the field errors",
                "content": _ERROR,
            },
            "500": {"description": "Internal error", "content": _ERROR},
        },
    }
    if route.has_body:
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": _schema(spec.input_model, components)}},
        }
    return operation


def rest_paths(
    routes: list[tuple[RestRoute, Action]], prefix: str = "", components: dict[str, Any] | None = None
) -> dict[str, Any]:
    """OpenAPI ``paths`` for REST routes mounted under ``prefix``."""
    comps = components if components is not None else {}
    paths: dict[str, Any] = {}
    for route, spec in routes:
        paths.setdefault(prefix + route.path, {})[route.method.lower()] = rest_operation(route, spec, comps)
    return paths
