"""The Plugboard ``actions`` map: what a consumer declares about its actions when it connects.

Shape (``shared/specs/plugboard.md``)::

    {ActionName: {"description": str,
                  "fields": {field: {"type": str, "description": str, "default"?: any}}}}

A field typed with a nested pydantic model becomes ``{"type": <ClassName>, "description": str, "fields":
{...}}``, the class name being the discriminator, as Vera's ``ActionSchema`` does. Other types are named by
their JSON Schema type (``string``, ``integer``, ``number``, ``boolean``, ``array``, ``object``, ``null``);
``Optional[X]`` is ``X``; other unions join their member types with ``|`` (``integer|string``); a type
JSON Schema cannot name is ``any``.

The map must be deterministic: every consumer of one service has to send an identical map or the hub refuses
it. Actions are sorted by name; fields keep their declaration order, which is fixed by the code.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, TypeAdapter
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined, to_jsonable_python

if TYPE_CHECKING:
    from ..actions import Action

_NULL = "null"


def actions_map(actions: Mapping[str, Action]) -> dict[str, Any]:
    """The actions map of ``actions`` (keyed by action name), sorted by name."""
    return {
        name: {
            "description": actions[name].description or "",
            "fields": model_fields(actions[name].input_model),
        }
        for name in sorted(actions)
    }


def model_fields(model: type[BaseModel]) -> dict[str, Any]:
    """The ``fields`` entry describing ``model``'s input fields, keyed by their wire name (the alias)."""
    return _fields(model, (model,))


def _fields(model: type[BaseModel], seen: tuple[type[BaseModel], ...]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, info in model.model_fields.items():
        key = info.validation_alias if isinstance(info.validation_alias, str) else info.alias or name
        nested = _nested_model(info.annotation)
        if nested is not None:
            out[key] = {
                "type": nested.__name__,
                "description": info.description or _model_description(nested),
                # A model that contains itself is described once; the inner reference has no fields.
                "fields": {} if nested in seen else _fields(nested, (*seen, nested)),
            }
            continue
        entry: dict[str, Any] = {"type": json_type(info.annotation), "description": info.description or ""}
        default = _default(info)
        if default is not PydanticUndefined:
            entry["default"] = default
        out[key] = entry
    return out


def _nested_model(annotation: Any) -> type[BaseModel] | None:
    """The model class of a field typed ``Model`` or ``Model | None``; None for anything else."""
    if typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        members = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(members) != 1:
            return None
        annotation = members[0]
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return None


def _model_description(model: type[BaseModel]) -> str:
    described = getattr(model, "description", None)
    if callable(described):  # Vera's ActionSchema / Plugwork's ActionRunner style
        try:
            text = described()
        except TypeError:
            text = None
        if isinstance(text, str):
            return text
    doc = model.__dict__.get("__doc__")  # the class's own docstring, never BaseModel's
    return " ".join(doc.split()) if isinstance(doc, str) else ""


def _default(info: FieldInfo) -> Any:
    # A default_factory is left out: it may give a different value each time (uuid4, now), which would make
    # two consumers' maps differ.
    if info.default is PydanticUndefined:
        return PydanticUndefined
    try:
        return to_jsonable_python(info.default)
    except Exception:  # a default JSON cannot carry is simply not advertised
        return PydanticUndefined


def json_type(annotation: Any) -> str:
    """The JSON Schema type name of a Python type annotation (see the module docstring)."""
    if annotation is None or annotation is type(None):
        return _NULL
    try:
        schema = TypeAdapter(annotation).json_schema()
    except Exception:  # arbitrary classes, callables...: nothing JSON Schema can name
        return "any"
    return _schema_type(schema, schema.get("$defs", {}), 0)


def _schema_type(schema: Mapping[str, Any], defs: Mapping[str, Any], depth: int) -> str:
    if depth > 32:
        return "any"
    ref = schema.get("$ref")
    if isinstance(ref, str):
        target = defs.get(ref.rsplit("/", 1)[-1])
        return _schema_type(target, defs, depth + 1) if isinstance(target, Mapping) else "object"
    kind = schema.get("type")
    if isinstance(kind, str):
        return kind
    if isinstance(kind, list):
        return _join([str(k) for k in kind])
    for combinator in ("anyOf", "oneOf", "allOf"):
        members = schema.get(combinator)
        if isinstance(members, list) and members:
            return _join([_schema_type(m, defs, depth + 1) for m in members if isinstance(m, Mapping)])
    if "const" in schema:
        return _value_type(schema["const"])
    if isinstance(schema.get("enum"), list):
        return _join([_value_type(v) for v in schema["enum"]])
    return "any"


def _join(kinds: list[str]) -> str:
    unique = list(dict.fromkeys(kinds))
    if "any" in unique:
        return "any"
    if len(unique) > 1 and _NULL in unique:
        unique.remove(_NULL)  # optionality shows in the default, not in the type
    return "|".join(unique) if unique else "any"


def _value_type(value: Any) -> str:
    if value is None:
        return _NULL
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"
